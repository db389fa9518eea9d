# rmqgen broker role: a RabbitMQ node that forms its cluster by itself.
#
# Built on nixpkgs' services.rabbitmq, adding what that module lacks:
# - the Erlang cookie from a file outside the Nix store (systemd
#   LoadCredential, installed 0400 into the data directory before every
#   start), so agenix, sops-nix or any file put there by provisioning works;
# - cluster formation through classic_config peer discovery, the node name,
#   the listeners and the pinned distribution port;
# - definitions imported at boot, and the queue-HA bootstrap as an
#   idempotent oneshot unit that runs once every broker is up;
# - firewall ports (AMQP, management, Prometheus, epmd, distribution).
#
# rmqgen renders the values of these options from its spec; the module also
# works on its own.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  cfg = config.services.rmqgen.broker;
  dataDir = config.services.rabbitmq.dataDir;
  hasPlugin = name: builtins.elem name cfg.plugins;

  # rabbitmq.conf, key by key; the same keys rmqgen writes into the
  # rabbitmq.conf it renders for other distributions.
  settings =
    {
      "cluster_name" = cfg.clusterName;
      "cluster_formation.peer_discovery_backend" = "classic_config";
      "listeners.tcp.default" = toString cfg.ports.amqp;
      "distribution.listener.port_range.min" = toString cfg.ports.distribution;
      "distribution.listener.port_range.max" = toString cfg.ports.distribution;
      "heartbeat" = toString cfg.heartbeat;
      "loopback_users.guest" = "true";
    }
    // builtins.listToAttrs (
      lib.imap1 (i: node: {
        name = "cluster_formation.classic_config.nodes.${toString i}";
        value = node;
      }) cfg.clusterNodes
    )
    // lib.optionalAttrs (cfg.partitionHandling != null) {
      "cluster_partition_handling" = cfg.partitionHandling;
    }
    // lib.optionalAttrs cfg.quorumMembershipReconciliation {
      "quorum_queue.continuous_membership_reconciliation.enabled" = "true";
    }
    // lib.optionalAttrs (cfg.definitions != null) {
      "definitions.import_backend" = "local_filesystem";
      "definitions.local.path" = cfg.definitionsPath;
      "definitions.skip_if_unchanged" = "true";
    }
    // lib.optionalAttrs (hasPlugin "rabbitmq_management") {
      "management.tcp.port" = toString cfg.ports.management;
    }
    // lib.optionalAttrs (hasPlugin "rabbitmq_prometheus") {
      "prometheus.tcp.port" = toString cfg.ports.prometheus;
    };

  isOutsideStore = p: lib.hasPrefix "/" p && !lib.hasPrefix builtins.storeDir p;

  port =
    default: description:
    mkOption {
      type = types.port;
      inherit default description;
    };
in
{
  options.services.rmqgen.broker = {
    enable = mkEnableOption "a RabbitMQ broker of an rmqgen cluster";

    package = mkOption {
      type = types.package;
      default = pkgs.rabbitmq-server;
      defaultText = literalExpression "pkgs.rabbitmq-server";
      description = ''
        The RabbitMQ package. Its version must be in the series given by
        {option}`services.rmqgen.broker.version`.
      '';
    };

    version = mkOption {
      type = types.strMatching "[0-9]+\\.[0-9]+";
      example = "4.2";
      description = ''
        The RabbitMQ series (`MAJOR.MINOR`) the settings were written for:
        the spec's `rabbitmq.version`. Which settings exist depends on it
        (classic mirroring is gone from 4.0, partition handling from 4.3), so
        evaluation fails when {option}`services.rmqgen.broker.package` is
        of another series.
      '';
    };

    clusterName = mkOption {
      type = types.str;
      example = "rmq-prod";
      description = "The cluster name (`cluster_name`).";
    };

    nodeName = mkOption {
      type = types.str;
      default = "rabbit@${config.networking.hostName}";
      defaultText = literalExpression ''"rabbit@''${config.networking.hostName}"'';
      description = ''
        This node's Erlang node name (`RABBITMQ_NODENAME`). It must be one
        of {option}`services.rmqgen.broker.clusterNodes`, and its host part
        must resolve to this host's cluster address on every broker.
      '';
    };

    clusterNodes = mkOption {
      type = types.nonEmptyListOf types.str;
      example = [
        "rabbit@rabbitmq-1"
        "rabbit@rabbitmq-2"
        "rabbit@rabbitmq-3"
      ];
      description = ''
        Every broker's node name. The brokers find each other from this list
        at first boot (classic_config peer discovery): no `join_cluster`.
      '';
    };

    ports = {
      amqp = port 5672 "AMQP listener port (all interfaces).";
      management = port 15672 "Management UI port (with the rabbitmq_management plugin).";
      prometheus = port 15692 "Prometheus metrics port (with the rabbitmq_prometheus plugin).";
      distribution = port 25672 "Erlang distribution port, pinned so a firewall can allow exactly it.";
    };

    heartbeat = mkOption {
      type = types.ints.between 0 65535;
      default = 60;
      description = "AMQP heartbeat the server proposes, in seconds (0 disables it).";
    };

    partitionHandling = mkOption {
      type = types.nullOr (
        types.enum [
          "pause_minority"
          "autoheal"
          "ignore"
        ]
      );
      default = "pause_minority";
      description = ''
        `cluster_partition_handling`; `null` leaves it out (RabbitMQ 4.3 and
        later have no such setting).
      '';
    };

    quorumMembershipReconciliation = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Keep every quorum queue at its target size as brokers come and go
        (`quorum_queue.continuous_membership_reconciliation.enabled`, 3.13+).
      '';
    };

    plugins = mkOption {
      type = types.listOf types.str;
      default = [
        "rabbitmq_management"
        "rabbitmq_prometheus"
      ];
      description = "Plugins to enable.";
    };

    definitions = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        Text of the definitions file imported at boot (vhosts, policies).
        It is written to the Nix store and to
        {option}`services.rmqgen.broker.definitionsPath`: it must hold no
        secret (rmqgen's holds no users and no passwords).
      '';
    };

    definitionsPath = mkOption {
      type = types.strMatching "/etc/.+";
      default = "/etc/rabbitmq/definitions.json";
      description = "Where the definitions file is installed (under /etc).";
    };

    cookieFile = mkOption {
      type = types.str;
      example = "/run/agenix/rabbitmq-erlang-cookie";
      description = ''
        Absolute path, on the host and outside the Nix store, of a file that
        holds the Erlang cookie shared by every broker (for example an
        agenix or sops-nix secret). systemd reads it with LoadCredential and
        the unit installs it as {file}`.erlang.cookie` (0400, owner
        rabbitmq) in the data directory before every start. A string, not a
        Nix path: a path literal would copy the secret into the
        world-readable store.
      '';
    };

    extraSettings = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "vm_memory_high_watermark.relative" = "0.6";
      };
      description = ''
        More rabbitmq.conf keys. This module owns
        {option}`services.rabbitmq.configItems` (nixpkgs' own default
        listener on 127.0.0.1 would clash with the cluster listener), so
        extra keys go here.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Open AMQP, epmd (4369), the distribution port and, with their plugins,
        the management and Prometheus ports.
      '';
    };

    bootstrap = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Run {option}`services.rmqgen.broker.bootstrap.script` on this broker
          (enable it on one broker only) as the oneshot unit
          `rmqgen-queue-ha-policy`, started by a timer after boot and retried
          until it succeeds. It waits for every broker, so a switch never
          blocks on it.
        '';
      };

      script = mkOption {
        type = types.lines;
        default = "";
        description = ''
          The idempotent bootstrap script (rmqgen's queue-ha-policy.sh): it
          applies the queue-HA policy, vhosts, users and permissions once all
          brokers run. It runs as root with the broker's node name and HOME,
          so rabbitmqctl uses the broker's cookie.
        '';
      };

      secretFiles = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "/etc/rabbitmq/rmqgen-secrets/app" ];
        description = ''
          Files outside the store that the script reads (user passwords,
          0400 root). The unit refuses to start while one is missing.
        '';
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.versions.majorMinor cfg.package.version == cfg.version;
        message = ''
          services.rmqgen.broker.package is RabbitMQ ${cfg.package.version}, but the settings were
          rendered for the ${cfg.version} series (rabbitmq.version in the spec). Pin a package of
          that series with services.rmqgen.broker.package, or render the spec with the version
          nixpkgs ships.
        '';
      }
      {
        assertion = isOutsideStore cfg.cookieFile;
        message = "services.rmqgen.broker.cookieFile must be an absolute path outside the Nix store, not ${cfg.cookieFile}.";
      }
      {
        assertion = builtins.elem cfg.nodeName cfg.clusterNodes;
        message = "services.rmqgen.broker.nodeName ${cfg.nodeName} is not in services.rmqgen.broker.clusterNodes.";
      }
      {
        assertion = builtins.all isOutsideStore cfg.bootstrap.secretFiles;
        message = "services.rmqgen.broker.bootstrap.secretFiles must be absolute paths outside the Nix store.";
      }
    ];

    services.rabbitmq = {
      enable = true;
      inherit (cfg) package plugins;
      # Forced: nixpkgs adds listeners.tcp.1 = 127.0.0.1:5672 by default,
      # which would clash with the cluster listener on all interfaces.
      configItems = lib.mkForce (settings // cfg.extraSettings);
    };

    environment.etc = mkIf (cfg.definitions != null) {
      ${lib.removePrefix "/etc/" cfg.definitionsPath} = {
        text = cfg.definitions;
        mode = "0640";
        user = "root";
        group = "rabbitmq";
      };
    };

    systemd.services.rabbitmq = {
      environment.RABBITMQ_NODENAME = cfg.nodeName;
      serviceConfig.LoadCredential = [ "erlang-cookie:${cfg.cookieFile}" ];
      # Runs as the rabbitmq user; `install` replaces an older cookie.
      preStart = lib.mkBefore ''
        install -m 0400 "$CREDENTIALS_DIRECTORY/erlang-cookie" ${lib.escapeShellArg "${dataDir}/.erlang.cookie"}
      '';
    };

    systemd.services.rmqgen-queue-ha-policy = mkIf cfg.bootstrap.enable {
      description = "rmqgen: apply the queue-HA policy, vhosts and users once every broker runs";
      after = [ "rabbitmq.service" ];
      requires = [ "rabbitmq.service" ];
      path = [
        cfg.package
        pkgs.coreutils
        pkgs.gnugrep
      ];
      environment = {
        # rabbitmqctl reads the cookie from $HOME/.erlang.cookie.
        HOME = dataDir;
        RABBITMQ_NODENAME = cfg.nodeName;
      };
      unitConfig = {
        AssertPathExists = cfg.bootstrap.secretFiles;
        StartLimitIntervalSec = 0;
      };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        Restart = "on-failure";
        RestartSec = "30s";
        ExecStart = "${pkgs.writeScript "rmqgen-queue-ha-policy" cfg.bootstrap.script}";
      };
    };

    systemd.timers.rmqgen-queue-ha-policy = mkIf cfg.bootstrap.enable {
      description = "rmqgen: start the queue-HA bootstrap after boot";
      wantedBy = [ "timers.target" ];
      timerConfig.OnActiveSec = "10s";
    };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall (
      [
        cfg.ports.amqp
        4369
        cfg.ports.distribution
      ]
      ++ lib.optional (hasPlugin "rabbitmq_management") cfg.ports.management
      ++ lib.optional (hasPlugin "rabbitmq_prometheus") cfg.ports.prometheus
    );
  };
}
