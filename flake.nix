# rmqgen's NixOS modules. No inputs: the modules take config, lib and pkgs
# from the system that imports them, so this flake evaluates (and
# `nix flake check --no-build` passes) without fetching anything.
{
  description = "rmqgen: NixOS modules for a highly available RabbitMQ cluster (brokers, HAProxy, keepalived)";

  outputs =
    { self }:
    {
      # `imports` wrappers rather than bare paths: flake checks want a
      # function or an attribute set, and importing by path lets the module
      # system deduplicate default and a single role imported together.
      nixosModules = {
        broker = {
          imports = [ ./modules/broker.nix ];
        };
        loadBalancer = {
          imports = [ ./modules/load-balancer.nix ];
        };
        keepalived = {
          imports = [ ./modules/keepalived.nix ];
        };
        default = {
          imports = [ ./modules/default.nix ];
        };
      };
    };
}
