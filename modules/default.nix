# All rmqgen roles; each stays off until its own enable is set.
{
  imports = [
    ./broker.nix
    ./load-balancer.nix
    ./keepalived.nix
  ];
}
