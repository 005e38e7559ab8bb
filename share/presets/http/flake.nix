# mvm preset "http": busybox httpd serving ./public over HTTP.
# The port and health path come from mvm-params.json (written by `mvmctl init`).
{
  description = "mvm microVM: static files over HTTP";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ];
      params = builtins.fromJSON (builtins.readFile ./mvm-params.json);
      port = params.http_port;
      healthPath = params.health_path;
    in
    assert builtins.isInt port && port >= 1 && port <= 65535
      || throw "mvm-params.json: http_port must be an integer from 1 to 65535";
    assert builtins.isString healthPath
      && builtins.match "/[A-Za-z0-9._~/-]*" healthPath != null
      && builtins.match ".*(/\\.\\.?(/.*)?|//.*)" healthPath == null
      || throw "mvm-params.json: health_path must be an absolute URL path of [A-Za-z0-9._~/-]";
    {
      packages = forAllSystems (system:
        let
          pkgs = nixpkgs.legacyPackages.${system};

          # ./public, plus a file at the health path ("ok") unless one is there.
          docroot = pkgs.runCommand "mvm-http-docroot" { inherit healthPath; } ''
            mkdir -p "$out"
            cp -R ${./public}/. "$out/"
            chmod -R u+w "$out"
            case "$healthPath" in
              */) file="$out''${healthPath}index.html" ;;
              *) file="$out$healthPath" ;;
            esac
            mkdir -p "$(dirname "$file")"
            [ -e "$file" ] || echo ok > "$file"
          '';

          service = pkgs.writeTextDir "etc/systemd/system/mvm-http.service" ''
            [Unit]
            Description=Static files over HTTP on port ${toString port}
            After=network.target

            [Service]
            ExecStart=${pkgs.busybox}/bin/httpd -f -v -p ${toString port} -h ${docroot}
            Restart=always

            [Install]
            WantedBy=multi-user.target
          '';
        in
        {
          default = pkgs.buildEnv {
            name = "mvm-http";
            paths = [ pkgs.busybox service ];
          };
        });
    };
}
