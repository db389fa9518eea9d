# rmqgen broker role: a RabbitMQ node that forms its cluster by itself.
#
# Built on nixpkgs' services.rabbitmq, adding what that module lacks:
# - the Erlang cookie from a file outside the Nix store (systemd
#   LoadCredential, installed 0400 into the data directory before every
#   start), so agenix, sops-nix or any file put there by provisioning works;
# - cluster formation through classic_config peer discovery, the node name,
#   the listeners and the pinned distribution port;
# - definitions imported at boot, and the queue-HA bootstrap as an
#   idempotent oneshot unit (on every broker) that runs once a majority of
#   the brokers is up;
# - firewall ports (AMQP, management, Prometheus, epmd, distribution), when
#   openFirewall is set.
#
# Two ways to configure RabbitMQ itself: rmqgen's generated hosts set
# `configText` and `enabledPluginsText` to the very rabbitmq.conf and
# enabled_plugins it renders for every other distribution (one source: the
# files on a NixOS broker are byte for byte those cloud-init writes). Used on
# its own, the module writes rabbitmq.conf from the typed options below.
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
  rendered = cfg.configText != null;
  confPath = "/etc/rabbitmq/rabbitmq.conf";
  pluginsPath = "/etc/rabbitmq/enabled_plugins";
  installed = import ./installed-file.nix { inherit lib; };

  # rabbitmq.conf from the typed options, key by key (without configText).
  settings =
    lib.optionalAttrs (cfg.clusterName != null) {
      "cluster_name" = cfg.clusterName;
    }
    // {
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

    configText = mkOption {
      type = types.nullOr types.lines;
      default = null;
      example = literalExpression "builtins.readFile ./rabbitmq.conf";
      description = ''
        The whole rabbitmq.conf, as rmqgen renders it. Installed as is at
        {file}`${confPath}` (mode and owner:
        {option}`services.rmqgen.broker.files.config`) and read by RabbitMQ; the
        options that only shape rabbitmq.conf (clusterName, clusterNodes,
        heartbeat, partitionHandling, quorumMembershipReconciliation,
        extraSettings) are then not used. It is written to the Nix store:
        no secret belongs in it. `null`: rabbitmq.conf is written from the
        typed options.
      '';
    };

    enabledPluginsText = mkOption {
      type = types.nullOr types.lines;
      default = null;
      example = "[rabbitmq_management,rabbitmq_prometheus].\n";
      description = ''
        The whole enabled_plugins file (an Erlang list of atoms ending in a
        full stop), as rmqgen renders it; installed at {file}`${pluginsPath}`.
        `null`: written from {option}`services.rmqgen.broker.plugins`.
      '';
    };

    files = {
      config = installed.option "rabbitmq.conf (with configText)" {
        mode = "0640";
        group = "rabbitmq";
      };
      enabledPlugins = installed.option "enabled_plugins (with enabledPluginsText)" {
        mode = "0644";
        group = "rabbitmq";
      };
      definitions = installed.option "the definitions file" {
        mode = "0640";
        group = "rabbitmq";
      };
    };

    clusterName = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "rmq-prod";
      description = "The cluster name (`cluster_name`); required without configText.";
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
      type = types.listOf types.str;
      default = [ ];
      example = [
        "rabbit@rabbitmq-1"
        "rabbit@rabbitmq-2"
        "rabbit@rabbitmq-3"
      ];
      description = ''
        Every broker's node name. The brokers find each other from this list
        at first boot (classic_config peer discovery): no `join_cluster`.
        Required without configText (which lists them itself).
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
      description = ''
        Plugins to enable (and, with openFirewall, whose ports to open).
        With enabledPluginsText, list the same plugins here.
      '';
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
      default = false;
      example = true;
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
          as the oneshot unit `rmqgen-queue-ha-policy`, started by a timer
          after boot and retried until it succeeds. rmqgen enables it on
          every broker: the script is idempotent and safe to run on several
          brokers at once, so it runs from any broker that is up. It waits
          for the brokers it needs, so a switch never blocks on it.
        '';
      };

      script = mkOption {
        type = types.lines;
        default = "";
        example = literalExpression "builtins.readFile ./queue-ha-policy.sh";
        description = ''
          Required with bootstrap.enable. The idempotent bootstrap script (rmqgen's queue-ha-policy.sh): it
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
        assertion = rendered || (cfg.clusterName != null && cfg.clusterNodes != [ ]);
        message = "services.rmqgen.broker needs clusterName and clusterNodes, or the whole rabbitmq.conf as configText.";
      }
      {
        assertion = rendered || builtins.elem cfg.nodeName cfg.clusterNodes;
        message = "services.rmqgen.broker.nodeName ${cfg.nodeName} is not in services.rmqgen.broker.clusterNodes.";
      }
      {
        assertion = !rendered || cfg.extraSettings == { };
        message = "services.rmqgen.broker.extraSettings has no effect with configText: put the keys into the spec (or the text) instead.";
      }
      {
        assertion = !cfg.bootstrap.enable || builtins.match "[[:space:]]*" cfg.bootstrap.script == null;
        message = "services.rmqgen.broker.bootstrap.enable is set but bootstrap.script is empty: the unit would fail every 30 s. Set bootstrap.script (rmqgen's queue-ha-policy.sh) or disable the bootstrap.";
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
      # Unused with configText (RABBITMQ_CONFIG_FILE points at it instead).
      configItems = lib.mkForce (if rendered then { } else settings // cfg.extraSettings);
    };

    # The rendered files, installed as is (copies, not store symlinks), at
    # the paths the Debian packages read them from.
    environment.etc = lib.mkMerge [
      (mkIf (cfg.definitions != null) {
        ${lib.removePrefix "/etc/" cfg.definitionsPath} = installed.etc cfg.files.definitions cfg.definitions;
      })
      (mkIf rendered {
        ${lib.removePrefix "/etc/" confPath} = installed.etc cfg.files.config cfg.configText;
      })
      (mkIf (cfg.enabledPluginsText != null) {
        ${lib.removePrefix "/etc/" pluginsPath} =
          installed.etc cfg.files.enabledPlugins cfg.enabledPluginsText;
      })
    ];

    systemd.services.rabbitmq = {
      environment = {
        RABBITMQ_NODENAME = cfg.nodeName;
      }
      // lib.optionalAttrs rendered { RABBITMQ_CONFIG_FILE = lib.mkForce confPath; }
      // lib.optionalAttrs (cfg.enabledPluginsText != null) {
        RABBITMQ_ENABLED_PLUGINS_FILE = lib.mkForce pluginsPath;
      };
      # The files in /etc are not part of the unit: restart when they change.
      restartTriggers = lib.filter (t: t != null) [
        cfg.configText
        cfg.enabledPluginsText
        cfg.definitions
      ];
      serviceConfig.LoadCredential = [ "erlang-cookie:${cfg.cookieFile}" ];
      # Runs as the rabbitmq user; `install` replaces an older cookie.
      preStart = lib.mkBefore ''
        install -m 0400 "$CREDENTIALS_DIRECTORY/erlang-cookie" ${lib.escapeShellArg "${dataDir}/.erlang.cookie"}
      '';
    };

    systemd.services.rmqgen-queue-ha-policy = mkIf cfg.bootstrap.enable {
      description = "rmqgen: apply the queue-HA policy, vhosts and users once a majority of brokers runs";
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
        # Each run's waits end after 2 minutes; the unit retries every 30 s
        # (the cloud-init unit's setting).
        RMQGEN_BOOTSTRAP_TIMEOUT_S = "120";
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
        # One run at a time on this host: a run by hand waits for the unit's.
        ExecStart = "${pkgs.util-linux}/bin/flock /run/lock/rmqgen-queue-ha-policy.lock ${pkgs.writeScript "rmqgen-queue-ha-policy" cfg.bootstrap.script}";
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
