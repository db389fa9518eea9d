# Declarations of the NixOS options, outside services.rabbitmq/haproxy/
# keepalived, that rmqgen's modules, nixpkgs' three service modules and the
# generated host files set, so that nix/eval-roles.nix can evaluate them
# with nixpkgs' lib alone (the whole of NixOS is not needed, nor fetched).
# Types follow NixOS where it matters for merging: systemd unit settings
# merge lists by concatenation, as NixOS's unit options do.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  unitOption = types.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      if lib.any (d: builtins.isList d.value) defs then
        lib.concatMap (d: lib.toList d.value) defs
      else
        lib.mergeEqualOption loc defs;
  };
  unitSettings = mkOption {
    type = types.attrsOf unitOption;
    default = { };
  };
  strings = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  unit = types.submodule {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      after = strings;
      before = strings;
      wants = strings;
      requires = strings;
      wantedBy = strings;
      path = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr types.str);
        default = { };
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
      };
      restartTriggers = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      serviceConfig = unitSettings;
      unitConfig = unitSettings;
      timerConfig = unitSettings;
    };
  };
  anyAttrs = mkOption {
    type = types.lazyAttrsOf types.anything;
    default = { };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = strings;
    meta = anyAttrs;
    ids = anyAttrs;
    boot.kernel.sysctl = anyAttrs;
    environment.systemPackages = mkOption {
      type = types.listOf types.anything;
      default = [ ];
    };
    environment.etc = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            enable = mkOption {
              type = types.bool;
              default = true;
            };
            text = mkOption {
              type = types.nullOr types.lines;
              default = null;
            };
            source = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            mode = mkOption {
              type = types.str;
              default = "symlink";
            };
            user = mkOption {
              type = types.str;
              default = "+0";
            };
            group = mkOption {
              type = types.str;
              default = "+0";
            };
          };
        }
      );
      default = { };
    };
    networking = {
      hostName = mkOption {
        type = types.str;
        default = "nixos";
      };
      domain = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      useDHCP = mkOption {
        type = types.bool;
        default = true;
      };
      interfaces = anyAttrs;
      defaultGateway = mkOption {
        type = types.nullOr types.anything;
        default = null;
      };
      nameservers = strings;
      hosts = mkOption {
        type = types.attrsOf (types.listOf types.str);
        default = { };
      };
      nftables = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        ruleset = mkOption {
          type = types.lines;
          default = "";
        };
      };
      firewall = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        allowedTCPPorts = mkOption {
          type = types.listOf types.port;
          default = [ ];
        };
        extraCommands = mkOption {
          type = types.lines;
          default = "";
        };
        extraStopCommands = mkOption {
          type = types.lines;
          default = "";
        };
        extraInputRules = mkOption {
          type = types.lines;
          default = "";
        };
      };
    };
    services.epmd.enable = mkOption {
      type = types.bool;
      default = false;
    };
    systemd.services = mkOption {
      type = types.attrsOf unit;
      default = { };
    };
    systemd.timers = mkOption {
      type = types.attrsOf unit;
      default = { };
    };
    systemd.tmpfiles.rules = strings;
    # Set by the generated host files (the NIC's name, matched by MAC).
    systemd.network.links = anyAttrs;
    users.users = anyAttrs;
    users.groups = anyAttrs;
  };
  config.ids = {
    uids.rabbitmq = 214;
    gids.rabbitmq = 214;
  };
}
