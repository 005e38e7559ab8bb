{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  outputs = { self, nixpkgs }:
    let
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
      dep = pkgs.runCommand "mvm-dep-1796672780475205437" { } ''
        echo '@nix {"action":"setPhase","phase":"buildPhase"}' >&$NIX_LOG_FD
        echo "dep: compiling"
        printf 'dep: caf\303\251 \033[31mred\033[0m done\n'
        sleep 1
        echo "dep: stderr line" >&2
        printf 'no newline at end'
        mkdir -p $out
      '';
    in {
      packages.x86_64-linux = {
        default = pkgs.runCommand "mvm-top-1796672780475205437" { } ''
          echo '@nix {"action":"setPhase","phase":"installPhase"}' >&$NIX_LOG_FD
          echo "top: using ${dep}"
          mkdir -p $out
        '';
        broken = pkgs.runCommand "mvm-broken-1796672780475205437" { } ''
          echo "${dep}"
          echo "this build fails on purpose" >&2
          exit 3
        '';
      };
    };
}
