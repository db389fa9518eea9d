# Stand-ins for the packages rmqgen's modules and nixpkgs' rabbitmq,
# haproxy and keepalived modules use: nothing is built or fetched, and
# pkgs.writeText / writeScript return their text, so an evaluation shows
# the files NixOS would write (nix/eval-roles.nix, nix/eval-files.nix).
{
  rabbitmqVersion ? "4.2.5",
}:
let
  package = name: version: {
    type = "derivation";
    inherit name version;
    pname = name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}-${version}";
    meta.mainProgram = name;
  };
in
{
  rabbitmq-server = package "rabbitmq-server" rabbitmqVersion;
  haproxy = package "haproxy" "3.2.0";
  keepalived = package "keepalived" "2.3.4";
  coreutils = package "coreutils" "9.7";
  gnugrep = package "gnugrep" "3.12";
  util-linux = package "util-linux" "2.41";
  bash = package "bash" "5.3";
  envsubst = package "envsubst" "1.4.3";
  iproute2 = package "iproute2" "6.14.0";
  writeText = _: text: text;
  writeScript = _: text: text;
  writeShellScript = _: text: text;
}
