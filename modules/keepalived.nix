# rmqgen keepalived role: the VRRP instance that holds the cluster's VIP on
# one healthy load balancer.
#
# Built on nixpkgs' services.keepalived (typed vrrpInstances / vrrpScripts),
# adding what that module lacks: the unprivileged `keepalived_script` user
# the check runs as (script security on), the check script installed as a
# root-owned file (not a symlink into the store, which keepalived resolves
# once), the advert interval, VRRP version and authentication (through
# extraConfig / extraGlobalDefs), ordering after HAProxy, VRRP in the
# firewall, and removing the VIP when keepalived dies without doing so.
#
# Two ways to configure the instance: rmqgen's generated hosts set
# `configText` to the keepalived.conf it renders for every other
# distribution (one source), and `check.script` and `resetScript` to the
# scripts it names; all three are installed unchanged, byte for byte the
# files cloud-init writes (the scripts find their tools on a PATH that
# covers Debian and NixOS's system profile). Used on its own, the module
# builds the instance from the typed options below through nixpkgs'
# vrrpInstances / vrrpScripts.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkEnableOption mkIf mkOption types;
  cfg = config.services.rmqgen.keepalived;
  check = cfg.check;

  # 500 -> "0.5", 1000 -> "1", 1250 -> "1.25": keepalived's decimal seconds.
  seconds =
    ms:
    let
      whole = ms / 1000;
      rest = ms - whole * 1000;
      trim = s: if lib.hasSuffix "0" s then trim (lib.removeSuffix "0" s) else s;
    in
    if rest == 0 then toString whole else "${toString whole}.${trim (lib.fixedWidthNumber 3 rest)}";

  # NixOS has no /bin/bash: point a script's interpreter into the store.
  patchShebang =
    text:
    if lib.hasPrefix "#!/bin/bash\n" text then
      "#!${pkgs.bash}/bin/bash\n" + lib.removePrefix "#!/bin/bash\n" text
    else
      text;

  # The VIPs of the instance, as nixpkgs' virtualIps entries; also what
  # ExecStopPost removes.
  virtualIps = [
    {
      addr = "${cfg.virtualIp}/${toString cfg.prefixLength}";
      dev = cfg.interface;
    }
  ];

  # Leaving MASTER (preempted, FAULT, or keepalived gone): reset the client
  # connections the local HAProxy still holds on the VIP, so clients
  # reconnect through the new holder at once instead of waiting for missed
  # heartbeats. rmqgen's rendered script when given, else the command.
  hasReset = cfg.resetScript != null;
  resetSessions =
    if hasReset then
      resetScriptPath
    else
      "${pkgs.iproute2}/bin/ss -K -t state connected src ${cfg.virtualIp}";
  resetScriptPath = "/etc/keepalived/rmqgen-reset-vip-connections.sh";

  authPass = if cfg.authPassFile != null then "\${RMQGEN_VRRP_AUTH_PASS}" else cfg.authPass;
  hasAuth = cfg.authPass != null || cfg.authPassFile != null;
  hasCheck = check.script != null;
  rendered = cfg.configText != null;
  confPath = "/etc/keepalived/keepalived.conf";
  installed = import ./installed-file.nix { inherit lib; };

  # The instance from the typed options, on nixpkgs' services.keepalived
  # (without configText).
  typed = {
    enableScriptSecurity = true;
    secretFile = mkIf (cfg.authPassFile != null) cfg.authPassFile;
    extraGlobalDefs = ''
      router_id ${cfg.routerId}
      script_user ${check.user}
      vrrp_version ${toString cfg.vrrpVersion}
    '';

    vrrpScripts = mkIf hasCheck {
      ${check.name} = {
        script = check.path;
        inherit (check)
          interval
          timeout
          fall
          rise
          weight
          user
          ;
      };
    };

    vrrpInstances.${cfg.instanceName} = {
      inherit (cfg) interface priority virtualRouterId;
      state = cfg.initialState;
      noPreempt = !cfg.preempt;
      unicastSrcIp = cfg.unicastSourceIp;
      unicastPeers = cfg.unicastPeers;
      inherit virtualIps;
      trackScripts = lib.optional hasCheck check.name;
      extraConfig =
        ''
          advert_int ${seconds cfg.advertIntervalMs}
          notify_backup "${resetSessions}" root
          notify_fault "${resetSessions}" root
        ''
        + lib.optionalString hasAuth ''
          authentication {
            auth_type PASS
            auth_pass ${authPass}
          }
        '';
    };
  };
in
{
  options.services.rmqgen.keepalived = {
    enable = mkEnableOption "the keepalived VRRP instance holding an rmqgen cluster's VIP";

    configText = mkOption {
      type = types.nullOr types.lines;
      default = null;
      example = lib.literalExpression "builtins.readFile ./keepalived.conf";
      description = ''
        The whole keepalived.conf, as rmqgen renders it. Installed at
        {file}`${confPath}` and passed to keepalived with `-f`; the options
        that only shape keepalived.conf (virtualRouterId, instanceName,
        routerId, priority, initialState, preempt, vrrpVersion,
        advertIntervalMs, unicast*, authPass, the check's timing) are then
        not used. Installed unchanged; the scripts it names are
        {option}`services.rmqgen.keepalived.check.script` and
        {option}`services.rmqgen.keepalived.resetScript`.
        It is written to the Nix store. `null`: the instance is built from
        the typed options.
      '';
    };

    files = {
      config = installed.option "keepalived.conf (with configText)" { mode = "0644"; };
      check = installed.option "the check script" { mode = "0755"; };
      resetScript = installed.option "the connection-reset script" { mode = "0755"; };
    };

    resetScript = mkOption {
      type = types.nullOr types.lines;
      default = null;
      example = lib.literalExpression "builtins.readFile ./rmqgen-reset-vip-connections.sh";
      description = ''
        Text of the script that resets the client connections on the VIP
        when this load balancer stops holding it (rmqgen's
        rmqgen-reset-vip-connections.sh). Installed unchanged at
        {file}`${resetScriptPath}` (mode and owner:
        {option}`services.rmqgen.keepalived.files.resetScript`) and run by the notify hooks
        and after keepalived dies; it finds `ss` on its own PATH, which
        covers the system profile (this module adds iproute2 there).
        `null`: the typed instance runs `ss` from the store instead.
      '';
    };

    interface = mkOption {
      type = types.str;
      example = "ens3";
      description = "Interface that carries the VIP and the VRRP adverts.";
    };

    virtualIp = mkOption {
      type = types.str;
      example = "192.168.247.160";
      description = "The floating IPv4 address clients connect to.";
    };

    prefixLength = mkOption {
      type = types.ints.between 0 32;
      example = 24;
      description = "Prefix length of the VIP (the subnet's).";
    };

    virtualRouterId = mkOption {
      type = types.nullOr (types.ints.between 1 255);
      default = null;
      example = 51;
      description = "VRRP virtual router id, unique on the L2 segment. Required without configText.";
    };

    instanceName = mkOption {
      type = types.strMatching "[A-Za-z0-9_]+";
      default = "VI_RMQ";
      description = "Name of the VRRP instance.";
    };

    routerId = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      description = "keepalived's `router_id`.";
    };

    priority = mkOption {
      type = types.nullOr (types.ints.between 1 254);
      default = null;
      example = 150;
      description = ''
        VRRP priority: the highest healthy load balancer holds the VIP.
        Required without configText.
      '';
    };

    initialState = mkOption {
      type = types.enum [
        "MASTER"
        "BACKUP"
      ];
      default = "BACKUP";
      description = "Initial VRRP state. keepalived ignores `nopreempt` on a MASTER.";
    };

    preempt = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether a recovered higher-priority load balancer takes the VIP back
        (a second, avoidable client outage). `false` writes `nopreempt`.
      '';
    };

    vrrpVersion = mkOption {
      type = types.enum [
        2
        3
      ];
      default = 3;
      description = "VRRP version; 3 allows sub-second adverts and has no authentication.";
    };

    advertIntervalMs = mkOption {
      type = types.ints.between 10 255000;
      default = 500;
      description = "VRRP advert interval in milliseconds (whole seconds with VRRPv2).";
    };

    unicastSourceIp = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "This load balancer's address, the source of unicast adverts.";
    };

    unicastPeers = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The other load balancers' addresses; empty for multicast adverts.";
    };

    authPass = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        VRRPv2 `auth_pass` (at most 8 characters). It travels in clear text
        in every advert, so it only guards against a misconfigured
        neighbour; it is written to the Nix store. To keep it out of the
        store, use {option}`services.rmqgen.keepalived.authPassFile`.
      '';
    };

    authPassFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/keys/keepalived.env";
      description = ''
        Absolute path, outside the store, of an environment file with the
        line `RMQGEN_VRRP_AUTH_PASS=...`; keepalived's configuration is
        completed from it at start (nixpkgs' secretFile, envsubst).
      '';
    };

    secretFiles = mkOption {
      type = types.listOf (types.strMatching "/.+");
      default = [ ];
      example = [ "/etc/keepalived/rmqgen-vrrp-auth.conf" ];
      description = ''
        Files outside the store that configText includes (rmqgen's VRRP
        password, 0600 root): keepalived does not start while one is
        missing, instead of running without it beside its peers.
      '';
    };

    check = {
      script = mkOption {
        type = types.nullOr types.lines;
        default = null;
        description = ''
          Text of the health check (rmqgen's check-haproxy.sh: healthy while
          the local HAProxy has a live broker, a `#!/bin/sh` script that
          runs unchanged on NixOS). Installed at
          {option}`services.rmqgen.keepalived.check.path` (mode and owner:
          {option}`services.rmqgen.keepalived.files.check`); a `#!/bin/bash` line
          (NixOS has no /bin/bash) is
          pointed at the store's bash.
          `null`: no track script, so nothing moves the VIP when HAProxy
          fails (evaluation warns; with configText naming the script's path
          it is an error).
        '';
      };

      path = mkOption {
        type = types.strMatching "/etc/.+";
        default = "/etc/keepalived/check-haproxy.sh";
        description = "Where the check script is installed (under /etc).";
      };

      name = mkOption {
        type = types.strMatching "[A-Za-z0-9_]+";
        default = "chk_haproxy";
        description = "Name of the vrrp_script.";
      };

      interval = mkOption {
        type = types.ints.positive;
        default = 1;
        description = "Seconds between checks (nixpkgs takes whole seconds).";
      };

      timeout = mkOption {
        type = types.ints.positive;
        default = 1;
        description = "Seconds after which a check counts as failed.";
      };

      fall = mkOption {
        type = types.ints.positive;
        default = 2;
        description = "Failures before the check counts as failed.";
      };

      rise = mkOption {
        type = types.ints.positive;
        default = 2;
        description = "Successes before the check counts as passed again.";
      };

      weight = mkOption {
        type = types.ints.between (-254) 254;
        default = 0;
        description = ''
          Priority change on failure; 0 puts the instance in FAULT, which
          releases the VIP at once.
        '';
      };

      user = mkOption {
        type = types.str;
        default = "keepalived_script";
        description = "Unprivileged user the check runs as; created by this module.";
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = "Accept VRRP (IP protocol 112) and AH.";
    };
  };

  config = mkIf cfg.enable {
    warnings = lib.optional (!rendered && !hasCheck) ''
      services.rmqgen.keepalived.check.script is not set: no track script watches HAProxy, so
      the VIP stays on this load balancer when its HAProxy fails. Set check.script (rmqgen's
      check-haproxy.sh, or any script that fails while the local HAProxy cannot serve).
    '';

    assertions = [
      {
        assertion = rendered || (cfg.virtualRouterId != null && cfg.priority != null);
        message = "services.rmqgen.keepalived needs virtualRouterId and priority, or the whole keepalived.conf as configText.";
      }
      {
        assertion = !rendered || hasCheck || !lib.hasInfix check.path cfg.configText;
        message = "services.rmqgen.keepalived.configText tracks ${check.path}, but check.script is not set: keepalived would drop the track script and the VIP would never move.";
      }
      {
        assertion = !rendered || hasReset || !lib.hasInfix resetScriptPath cfg.configText;
        message = "services.rmqgen.keepalived.configText runs ${resetScriptPath}, but resetScript is not set: the notify hooks would fail and clients would keep dead connections.";
      }
      {
        assertion = !rendered || (cfg.authPass == null && cfg.authPassFile == null);
        message = "services.rmqgen.keepalived.authPass and authPassFile have no effect with configText (its authentication block is the spec's).";
      }
      {
        assertion = lib.all (f: !lib.hasPrefix builtins.storeDir f) cfg.secretFiles;
        message = "services.rmqgen.keepalived.secretFiles must be outside the Nix store.";
      }
      {
        assertion = !(cfg.authPass != null && cfg.authPassFile != null);
        message = "Set services.rmqgen.keepalived.authPass or authPassFile, not both.";
      }
      {
        assertion = !hasAuth || cfg.vrrpVersion == 2;
        message = "VRRPv3 has no authentication: unset the keepalived auth_pass or use vrrpVersion 2.";
      }
      {
        assertion = cfg.authPass == null || builtins.stringLength cfg.authPass <= 8;
        message = "keepalived uses only the first 8 characters of auth_pass.";
      }
      {
        assertion = cfg.vrrpVersion == 3 || lib.mod cfg.advertIntervalMs 1000 == 0;
        message = "VRRPv2 adverts are whole seconds: make advertIntervalMs a multiple of 1000.";
      }
      {
        assertion = !(cfg.initialState == "MASTER" && !cfg.preempt);
        message = "keepalived ignores nopreempt with initial state MASTER: use BACKUP or preempt = true.";
      }
      {
        assertion =
          cfg.authPassFile == null
          || (lib.hasPrefix "/" cfg.authPassFile && !lib.hasPrefix builtins.storeDir cfg.authPassFile);
        message = "services.rmqgen.keepalived.authPassFile must be an absolute path outside the Nix store.";
      }
    ];

    services.keepalived = lib.mkMerge [
      {
        enable = true;
        openFirewall = cfg.openFirewall;
      }
      (mkIf (!rendered) typed)
    ];

    # The rendered configuration, a copy at the Debian path, run as is.
    environment.etc = lib.mkMerge [
      (mkIf rendered {
        ${lib.removePrefix "/etc/" confPath} = installed.etc cfg.files.config cfg.configText;
      })
      # A copy, not a symlink into the store: keepalived resolves a script's
      # symlinks once at start, and checks that only root can change the path.
      (mkIf hasCheck {
        ${lib.removePrefix "/etc/" check.path} = installed.etc cfg.files.check (patchShebang check.script);
      })
      (mkIf hasReset {
        ${lib.removePrefix "/etc/" resetScriptPath} = installed.etc cfg.files.resetScript cfg.resetScript;
      })
    ];

    # What the rendered scripts look for on their PATH.
    environment.systemPackages = [
      pkgs.bash
      pkgs.iproute2
    ];

    users.users = mkIf (check.user != "root") {
      ${check.user} = {
        isSystemUser = true;
        group = check.user;
        description = "keepalived check scripts";
      };
    };
    users.groups = mkIf (check.user != "root") { ${check.user} = { }; };

    systemd.services.keepalived = lib.mkMerge [
      {
        # A keepalived that dies without shutting down (SIGKILL, a crash)
        # leaves the VIP configured while a backup claims it: two load
        # balancers answer for it. systemd runs this as soon as keepalived
        # is gone, before any restart; after a clean stop the address is
        # already gone and the failure is ignored (-).
        # Then the sessions on it (a crash skips notify_backup).
        serviceConfig.ExecStopPost =
          map (ip: "-${pkgs.iproute2}/bin/ip address del ${ip.addr} dev ${ip.dev}") virtualIps
          ++ [ "-${resetSessions}" ];
        # Back as a backup (or, with preemption, as the master) a second
        # later. nixpkgs' keepalived module sets the same two values; they
        # are repeated here so that the cleanup above is always followed by
        # a restart, as on the cloud-init path.
        serviceConfig.Restart = "always";
        serviceConfig.RestartSec = "1s";
      }
      # The rendered configuration instead of nixpkgs' generated one; the
      # file in /etc is not part of the unit, so its text triggers restarts.
      (mkIf (cfg.secretFiles != [ ]) {
        unitConfig.AssertPathExists = cfg.secretFiles;
      })
      (mkIf rendered {
        serviceConfig.ExecStart = lib.mkForce "${lib.getExe config.services.keepalived.package} -f ${confPath} -p /run/keepalived.pid";
        restartTriggers = [ cfg.configText ] ++ lib.optional hasReset cfg.resetScript;
      })
      # The check asks the local HAProxy; start after it when it runs here.
      (mkIf config.services.haproxy.enable {
        after = [ "haproxy.service" ];
        wants = [ "haproxy.service" ];
      })
    ];
  };
}
