# mvm preset "python": a Python HTTP service (app/main.py unless mvm-params.json
# names another entrypoint) listening on $PORT. The port, health path and
# entrypoint come from mvm-params.json (written by `mvmctl init`).
{
  description = "mvm microVM: a Python HTTP service";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ];
      params = builtins.fromJSON (builtins.readFile ./mvm-params.json);
      port = params.http_port;
      healthPath = params.health_path;
      entrypoint = params.python_entrypoint;
    in
    assert builtins.isInt port && port >= 1 && port <= 65535
      || throw "mvm-params.json: http_port must be an integer from 1 to 65535";
    assert builtins.isString healthPath
      && builtins.match "/[A-Za-z0-9._~/-]*" healthPath != null
      && builtins.match ".*(/\\.\\.?(/.*)?|//.*)" healthPath == null
      || throw "mvm-params.json: health_path must be an absolute URL path of [A-Za-z0-9._~/-]";
    assert builtins.isString entrypoint
      && builtins.match "([A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\\.py" entrypoint != null
      || throw "mvm-params.json: python_entrypoint must be a relative path to a .py file";
    assert builtins.pathExists (./. + "/${entrypoint}")
      || throw "mvm-params.json: python_entrypoint ${entrypoint} does not exist in the project";
    {
      packages = forAllSystems (system:
        let
          pkgs = nixpkgs.legacyPackages.${system};

          service = pkgs.writeTextDir "etc/systemd/system/mvm-python.service" ''
            [Unit]
            Description=Python HTTP service on port ${toString port}
            After=network.target

            [Service]
            ExecStart=${pkgs.python3}/bin/python3 ${self}/${entrypoint}
            WorkingDirectory=${self}
            Environment=PORT=${toString port}
            Environment=HEALTH_PATH=${healthPath}
            Environment=PYTHONUNBUFFERED=1
            Restart=on-failure

            [Install]
            WantedBy=multi-user.target
          '';
        in
        {
          default = pkgs.buildEnv {
            name = "mvm-python";
            paths = [ pkgs.busybox pkgs.python3 service ];
          };
        });
    };
}
