# For evaluating a generated host file without nixpkgs: the two lib
# functions host files use, as the identity (tests/nix_tools.rs).
{
  mkDefault = x: x;
  mkForce = x: x;
}
