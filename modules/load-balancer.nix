# rmqgen load balancer role: HAProxy in front of the brokers, bound to the
# VIP on every load balancer.
#
# Built on nixpkgs' services.haproxy (free-text configuration), adding what
# that module lacks:
# - `haproxy -c` before every start, so a broken configuration fails the
#   unit instead of the running proxy;
# - an environment file outside the Nix store (the statistics password);
# - the chroot directory the configuration names, and the capability to
#   enter it while HAProxy runs as its own user;
# - net.ipv4.ip_nonlocal_bind, so a backup's HAProxy can bind the VIP it
#   does not hold yet;
# - firewall ports for the frontends.
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkEnableOption mkIf mkOption types;
  cfg = config.services.rmqgen.loadBalancer;
  haproxy = config.services.haproxy;
in
{
  options.services.rmqgen.loadBalancer = {
    enable = mkEnableOption "an HAProxy load balancer of an rmqgen cluster";

    config = mkOption {
      type = types.nullOr types.lines;
      default = null;
      example = lib.literalExpression "builtins.readFile ./haproxy.cfg";
      description = ''
        The whole HAProxy configuration, as text (rmqgen renders one per
        load balancer; generated hosts set it). Passed to
        {option}`services.haproxy.config` unchanged; it is written to the
        Nix store, so it holds no secret: the statistics password is
        referenced as an environment variable. Set this or
        {option}`services.rmqgen.loadBalancer.configFile`.
      '';
    };

    configFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = lib.literalExpression "./haproxy.cfg";
      description = ''
        A file holding the whole HAProxy configuration (for example the
        `haproxy/<host>/haproxy.cfg` rmqgen rendered, kept beside your
        flake): read at evaluation time and used as
        {option}`services.rmqgen.loadBalancer.config`. It ends up in the
        Nix store like that text.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/etc/haproxy/rmqgen.env";
      description = ''
        Absolute path, outside the Nix store, of an environment file systemd
        reads before HAProxy starts (rmqgen's configuration takes
        `RMQGEN_STATS_PASSWORD` from it). Must exist when set.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Run `haproxy -c` on the configuration before every start.";
    };

    chroot = mkOption {
      type = types.nullOr types.str;
      default = "/var/lib/haproxy";
      description = ''
        The directory the configuration's `chroot` names. It is created
        empty and root-owned, and HAProxy, which runs as its own user, gets
        CAP_SYS_CHROOT to enter it. `null` when the configuration has no
        `chroot`.
      '';
    };

    nonlocalBind = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Set net.ipv4.ip_nonlocal_bind = 1: HAProxy binds the VIP on every
        load balancer, including those that do not hold it.
      '';
    };

    frontendPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      example = [
        5672
        15672
        8100
      ];
      description = "TCP ports of the frontends (AMQP, management, statistics).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = "Open {option}`services.rmqgen.loadBalancer.frontendPorts`.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.config == null) != (cfg.configFile == null);
        message = "services.rmqgen.loadBalancer needs the HAProxy configuration: set config (text) or configFile (a path), exactly one.";
      }
      {
        assertion =
          cfg.environmentFile == null
          || (lib.hasPrefix "/" cfg.environmentFile && !lib.hasPrefix builtins.storeDir cfg.environmentFile);
        message = "services.rmqgen.loadBalancer.environmentFile must be an absolute path outside the Nix store.";
      }
    ];

    services.haproxy = {
      enable = true;
      config = if cfg.configFile != null then builtins.readFile cfg.configFile else cfg.config;
    };

    systemd.services.haproxy.serviceConfig = {
      ExecStartPre = mkIf cfg.checkConfig (
        lib.mkAfter [ "${lib.getExe haproxy.package} -c -q -f /etc/haproxy.cfg" ]
      );
      EnvironmentFile = mkIf (cfg.environmentFile != null) [ cfg.environmentFile ];
      AmbientCapabilities = mkIf (cfg.chroot != null) [ "CAP_SYS_CHROOT" ];
    };

    systemd.tmpfiles.rules = mkIf (cfg.chroot != null) [ "d ${cfg.chroot} 0755 root root -" ];

    boot.kernel.sysctl = mkIf cfg.nonlocalBind { "net.ipv4.ip_nonlocal_bind" = 1; };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall cfg.frontendPorts;
  };
}
