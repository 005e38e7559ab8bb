# mvm preset "minimal": a busybox shell userland and nothing running.
# Built by `mvmctl build`, booted by `mvmctl up`; `mvmctl exec` gets a shell.
{
  description = "mvm microVM: a minimal busybox userland";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ];
    in
    {
      packages = forAllSystems (system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        {
          default = pkgs.buildEnv {
            name = "mvm-minimal";
            paths = [ pkgs.busybox ];
          };
        });
    };
}
