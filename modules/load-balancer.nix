# rmqgen load balancer role: HAProxy in front of the brokers, bound to the
# VIP on every load balancer.
#
# Built on nixpkgs' services.haproxy (free-text configuration), adding what
# that module lacks:
# - the configuration installed unchanged at /etc/haproxy/haproxy.cfg (the
#   Debian path, byte for byte what cloud-init writes) and HAProxy started
#   on it: nixpkgs would put its own `global` lines in front and serve
#   /etc/haproxy.cfg;
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
  text = if cfg.configFile != null then builtins.readFile cfg.configFile else cfg.config;
  cfgPath = "/etc/haproxy/haproxy.cfg";
  installed = import ./installed-file.nix { inherit lib; };
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
        load balancer; generated hosts set it). Installed unchanged at
        {file}`/etc/haproxy/haproxy.cfg` (mode and owner:
        {option}`services.rmqgen.loadBalancer.files.config`), which HAProxy is
        started and reloaded with; it is written to the
        Nix store, so it holds no secret: the statistics password is
        referenced as an environment variable. Set this or
        {option}`services.rmqgen.loadBalancer.configFile`.
      '';
    };

    files.config = installed.option "haproxy.cfg" { mode = "0644"; };

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

    # nixpkgs' module wants the text too (its own checks and reloads test
    # it with its `global` lines in front); HAProxy itself runs on the file.
    services.haproxy = {
      enable = true;
      config = text;
    };

    environment.etc = {
      ${lib.removePrefix "/etc/" cfgPath} = installed.etc cfg.files.config text;
      # nixpkgs' copy with its lines in front: unused, so not installed.
      "haproxy.cfg".enable = lib.mkForce false;
    };

    # The file in /etc is not part of the unit: restart when it changes.
    systemd.services.haproxy.restartTriggers = [ text ];

    systemd.services.haproxy.serviceConfig = {
      # nixpkgs' command (the binary linked into /run/haproxy, so that a
      # reload's re-exec finds it), on the installed file; a reload
      # (SIGUSR2) re-executes it with the same file.
      ExecStart = lib.mkForce "/run/haproxy/haproxy -Ws -f ${cfgPath} -p /run/haproxy/haproxy.pid";
      ExecStartPre = mkIf cfg.checkConfig (
        lib.mkAfter [ "${lib.getExe haproxy.package} -c -q -f ${cfgPath}" ]
      );
      EnvironmentFile = mkIf (cfg.environmentFile != null) [ cfg.environmentFile ];
      AmbientCapabilities = mkIf (cfg.chroot != null) [ "CAP_SYS_CHROOT" ];
    };

    systemd.tmpfiles.rules = mkIf (cfg.chroot != null) [ "d ${cfg.chroot} 0755 root root -" ];

    boot.kernel.sysctl = mkIf cfg.nonlocalBind { "net.ipv4.ip_nonlocal_bind" = 1; };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall cfg.frontendPorts;
  };
}
