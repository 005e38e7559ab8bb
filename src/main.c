/* mvmctl (also installed as mvm): build and run microVMs from a Nix flake. */
#include <locale.h>
#include <signal.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "C");
	signal(SIGPIPE, SIG_IGN);
	return cli_main(argc, argv);
}
