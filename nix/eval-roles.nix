# Evaluates one generated host file with rmqgen's modules against nixpkgs'
# own services.rabbitmq, services.haproxy and services.keepalived modules,
# and returns the settings those produce (as JSON with
# `nix-instantiate --eval --strict --json`). Nothing is built or fetched:
# packages are stand-ins, and pkgs.writeText returns its text, so the
# rabbitmq.conf, haproxy.cfg and keepalived.conf that nixpkgs would write
# can be compared with the cloud-init artifacts (tests/nix_tools.rs).
#
#   nix-instantiate --eval --strict --json nix/eval-roles.nix \
#     --arg nixpkgs /path/to/nixpkgs --arg host ./infra/nixos/rabbitmq-1.nix
{
  nixpkgs,
  host,
  rabbitmqVersion ? "4.2.5",
}:
let
  lib = import (nixpkgs + "/lib");
  pkgs = import ./stub-pkgs.nix { inherit rabbitmqVersion; };
  eval = lib.evalModules {
    specialArgs = {
      inherit pkgs;
      modulesPath = nixpkgs + "/nixos/modules";
    };
    modules = [
      ./nixos-stubs.nix
      (nixpkgs + "/nixos/modules/services/amqp/rabbitmq.nix")
      (nixpkgs + "/nixos/modules/services/networking/haproxy.nix")
      (nixpkgs + "/nixos/modules/services/networking/keepalived")
      ../modules/default.nix
      host
    ];
  };
  cfg = eval.config;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);
  units = cfg.systemd.services;
  etc = name: cfg.environment.etc.${name} or null;
  keepalivedStart = units.keepalived.serviceConfig.ExecStart;
  # A configuration file named by a unit: a file rmqgen's modules install
  # in /etc, or (the stand-in writeText) nixpkgs' generated text itself.
  fileText = p: if lib.hasPrefix "/etc/" p then (etc (lib.removePrefix "/etc/" p)).text else p;
in
{
  assertions = failed;
  firewall = cfg.networking.firewall.allowedTCPPorts;
  firewallCommands = cfg.networking.firewall.extraCommands;
  sysctl = cfg.boot.kernel.sysctl;
  tmpfiles = cfg.systemd.tmpfiles.rules;
  users = lib.attrNames cfg.users.users;
  groups = lib.attrNames cfg.users.groups;
  rabbitmq = lib.optionalAttrs cfg.services.rabbitmq.enable {
    conf = fileText units.rabbitmq.environment.RABBITMQ_CONFIG_FILE;
    enabledPlugins = fileText units.rabbitmq.environment.RABBITMQ_ENABLED_PLUGINS_FILE;
    nodeName = units.rabbitmq.environment.RABBITMQ_NODENAME;
    loadCredential = units.rabbitmq.serviceConfig.LoadCredential;
    preStart = units.rabbitmq.preStart;
    definitions = etc "rabbitmq/definitions.json";
    bootstrap = units.rmqgen-queue-ha-policy or null;
    bootstrapTimer = cfg.systemd.timers.rmqgen-queue-ha-policy or null;
  };
  haproxy = lib.optionalAttrs cfg.services.haproxy.enable {
    # nixpkgs' own text (its checks test it), and the installed file.
    config = (etc "haproxy.cfg").source;
    file = etc "haproxy/haproxy.cfg";
    etcHaproxyCfgEnabled = (etc "haproxy.cfg").enable;
    inherit (units.haproxy) serviceConfig;
  };
  keepalived = lib.optionalAttrs cfg.services.keepalived.enable {
    # ExecStart is "<keepalived> -f <the configuration> -p <pid file>": the
    # rendered file in /etc, or nixpkgs' (the stand-in writeText made it its
    # own text).
    conf =
      let
        afterFlag = lib.last (lib.splitString " -f " keepalivedStart);
      in
      fileText (lib.removeSuffix " -p /run/keepalived.pid" afterFlag);
    checkScript = etc "keepalived/check-haproxy.sh";
    resetScript = etc "keepalived/rmqgen-reset-vip-connections.sh";
    inherit (units.keepalived) after serviceConfig;
  };
}
