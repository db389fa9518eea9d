# Declarations of the nixpkgs service options rmqgen's modules set or read
# (services.rabbitmq, services.haproxy, services.keepalived), free-form
# beyond the few with defaults the modules read. With nix/nixos-stubs.nix
# they let nix/eval-files.nix evaluate rmqgen's modules with nixpkgs' lib
# alone: what the modules themselves install and assert, not what nixpkgs'
# own modules make of it (nix/eval-roles.nix checks that, given nixpkgs).
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  service =
    options:
    mkOption {
      type = types.submodule {
        freeformType = types.lazyAttrsOf types.anything;
        options = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
        }
        // options;
      };
      default = { };
    };
in
{
  options.services = {
    rabbitmq = service {
      package = mkOption {
        type = types.anything;
        default = pkgs.rabbitmq-server;
      };
      dataDir = mkOption {
        type = types.str;
        default = "/var/lib/rabbitmq";
      };
    };
    haproxy = service {
      package = mkOption {
        type = types.anything;
        default = pkgs.haproxy;
      };
    };
    keepalived = service {
      package = mkOption {
        type = types.anything;
        default = pkgs.keepalived;
      };
    };
  };
}
