# mvm preset "postgres": PostgreSQL with its data under /data/postgres (the
# VM's data disk), initialised on first boot. Local connections are trusted;
# TCP connections need a password: set one with
#   mvmctl exec -- psql -U postgres -c "ALTER USER postgres PASSWORD '…'"
{
  description = "mvm microVM: PostgreSQL";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ];
    in
    {
      packages = forAllSystems (system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          path = "${pkgs.postgresql}/bin:${pkgs.busybox}/bin";

          # PostgreSQL refuses to run as root: it runs as the postgres user
          # (uid 70, as in NixOS), which the image's /etc/passwd declares.
          accounts = [
            (pkgs.writeTextDir "etc/passwd" ''
              root:x:0:0:root:/root:/bin/sh
              postgres:x:70:70:PostgreSQL:/data/postgres:/bin/sh
            '')
            (pkgs.writeTextDir "etc/group" ''
              root:x:0:
              postgres:x:70:
            '')
          ];

          # As postgres: initdb on first boot, then the server in the foreground.
          server = pkgs.writeShellScript "mvm-postgres-server" ''
            set -eu
            PATH=${path}
            if [ ! -s /data/postgres/PG_VERSION ]; then
              echo "postgres: first boot: initialising /data/postgres"
              initdb -D /data/postgres -U postgres --auth-local=trust --auth-host=scram-sha-256
            fi
            exec postgres -D /data/postgres -k /run/postgresql -c listen_addresses='*'
          '';

          # As root: the directories postgres needs, then drop to the postgres user.
          start = pkgs.writeShellScriptBin "mvm-postgres-start" ''
            set -eu
            PATH=${path}
            mkdir -p /data/postgres /run/postgresql
            chown postgres:postgres /data/postgres /run/postgresql
            chmod 0700 /data/postgres
            exec su -s ${server} postgres
          '';

          service = pkgs.writeTextDir "etc/systemd/system/mvm-postgres.service" ''
            [Unit]
            Description=PostgreSQL on port 5432, data in /data/postgres
            After=network.target

            [Service]
            ExecStart=${start}/bin/mvm-postgres-start
            Restart=on-failure

            [Install]
            WantedBy=multi-user.target
          '';
        in
        {
          default = pkgs.buildEnv {
            name = "mvm-postgres";
            paths = [ pkgs.busybox pkgs.postgresql service start ] ++ accounts;
          };
        });
    };
}
