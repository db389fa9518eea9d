# The mode and owner of a file a role module installs under /etc, shared by
# the role modules (not a module itself).
#
# `option` declares them with the defaults rmqgen renders (the placements
# in rmqgen's src/roles/, which cloud-init's write_files uses too); the host
# files rmqgen generates set them from those placements, so the modules
# never hold a second copy. `etc` is the environment.etc entry installing
# a text so: a copy, not a symlink into the store.
{ lib }:
let
  inherit (lib) mkOption types;
in
{
  option =
    what: defaults:
    mkOption {
      type = types.submodule {
        options = {
          mode = mkOption {
            type = types.strMatching "0[0-7]{3}";
            default = defaults.mode;
            description = "Mode of ${what}, in octal.";
          };
          user = mkOption {
            type = types.str;
            default = defaults.user or "root";
            description = "Owner of ${what}.";
          };
          group = mkOption {
            type = types.str;
            default = defaults.group or "root";
            description = "Group of ${what}.";
          };
        };
      };
      default = { };
      description = ''
        Mode and owner of ${what}. rmqgen's generated hosts set them from
        the rendered file's placement, the one cloud-init installs it with.
      '';
    };

  etc = file: text: {
    inherit text;
    inherit (file) mode user group;
  };
}
