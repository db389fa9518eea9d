# Evaluates one NixOS host module with rmqgen's modules and stand-ins for
# the rest of NixOS (nix/nixos-stubs.nix, nix/service-stubs.nix,
# nix/stub-pkgs.nix), given only nixpkgs' lib: nothing is built or
# fetched. Returns what the modules install and what they refuse
# (tests/nix_tools.rs compares the files with cloud-init's write_files):
#
#   nix-instantiate --eval --strict --json nix/eval-files.nix \
#     --arg lib /path/to/nixpkgs/lib --arg host ./infra/nixos/rabbitmq-1.nix
{
  lib,
  host,
  rabbitmqVersion ? "4.2.5",
}:
let
  nixLib = import lib;
  pkgs = import ./stub-pkgs.nix { inherit rabbitmqVersion; };
  eval = nixLib.evalModules {
    specialArgs = { inherit pkgs; };
    modules = [
      ./nixos-stubs.nix
      ./service-stubs.nix
      ../modules/default.nix
      host
    ];
  };
  cfg = eval.config;
  units = cfg.systemd.services;
in
{
  assertions = map (a: a.message) (nixLib.filter (a: !a.assertion) cfg.assertions);
  inherit (cfg) warnings;
  # Every file installed in /etc, by its path on the host.
  etc = nixLib.mapAttrs' (name: f: {
    name = "/etc/${name}";
    value = {
      inherit (f)
        text
        source
        mode
        user
        group
        ;
    };
  }) (nixLib.filterAttrs (_: f: f.enable) cfg.environment.etc);
  firewall = cfg.networking.firewall.allowedTCPPorts;
  firewallEnable = cfg.networking.firewall.enable;
  nftables = {
    inherit (cfg.networking.nftables) enable ruleset;
  };
  haproxyConfig = cfg.services.haproxy.config or null;
  rabbitmqEnvironment = units.rabbitmq.environment or { };
  keepalivedStart = units.keepalived.serviceConfig.ExecStart or null;
  keepalivedStopPost = units.keepalived.serviceConfig.ExecStopPost or null;
  bootstrapStart = units.rmqgen-queue-ha-policy.serviceConfig.ExecStart or null;
  bootstrapEnvironment = units.rmqgen-queue-ha-policy.environment or { };
  restartTriggers = nixLib.mapAttrs (_: u: u.restartTriggers) units;
}
