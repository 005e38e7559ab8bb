# mvm preset "worker": a background loop doing periodic work, logging a tick
# every worker_interval_secs seconds (from mvm-params.json, written by
# `mvmctl init`). Put the real work in ./work.sh.
{
  description = "mvm microVM: a periodic background worker";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ];
      params = builtins.fromJSON (builtins.readFile ./mvm-params.json);
      interval = params.worker_interval_secs;
    in
    assert builtins.isInt interval && interval >= 1 && interval <= 86400
      || throw "mvm-params.json: worker_interval_secs must be an integer from 1 to 86400";
    {
      packages = forAllSystems (system:
        let
          pkgs = nixpkgs.legacyPackages.${system};

          worker = pkgs.writeShellScriptBin "mvm-worker" ''
            PATH=${pkgs.busybox}/bin:$PATH
            n=0
            while :; do
              n=$((n + 1))
              echo "worker: tick $n at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
              sh ${./work.sh} "$n" || echo "worker: tick $n: work.sh failed with status $?"
              sleep ${toString interval}
            done
          '';

          service = pkgs.writeTextDir "etc/systemd/system/mvm-worker.service" ''
            [Unit]
            Description=Periodic worker, one tick every ${toString interval}s

            [Service]
            ExecStart=${worker}/bin/mvm-worker
            Restart=always

            [Install]
            WantedBy=multi-user.target
          '';
        in
        {
          default = pkgs.buildEnv {
            name = "mvm-worker";
            paths = [ pkgs.busybox worker service ];
          };
        });
    };
}
