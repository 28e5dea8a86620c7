# The tenant_auth mysql-test-run suite. Two ways to run it:
# - From the checkout, scripts/mtr: the library and the SQL scripts of the
#   build, in $TENANT_AUTH_PLUGIN_DIR (default: build/ of this checkout) and
#   $TENANT_AUTH_SQL_DIR (default: its sql/, where the build writes
#   install.sql). MTR splits a suite name at '-', so the path must hold
#   none: scripts/mtr links this directory from a temporary one.
# - Installed by mariadb-plugin-tenant-auth or cmake --install, as
#   <mysql-test>/plugin/tenant_auth/tenant_auth: ./mtr --suite=tenant_auth
#   there. installed.pl, written by the build beside this file, names where
#   the library and the SQL scripts were installed.
# Variables given in the environment win either way.
# suite.opt turns the Sequence engine on (--loose-sequence): MTR starts the
# server with optional plugins off, and verify_tenant_token_hashes reads it.
package My::Suite::Tenant_auth;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

@ISA = qw(My::Suite);

# The suite's own files (std_data/: the released install.sql of 1.0.0).
$ENV{TENANT_AUTH_SUITE_DIR} = dirname(abs_path(__FILE__));

my $installed = "$ENV{TENANT_AUTH_SUITE_DIR}/installed.pl";
if (!$ENV{TENANT_AUTH_PLUGIN_DIR} && -f $installed) {
  do $installed or return "$installed: " . ($@ || $! || 'no value');
}
my $root = abs_path("$ENV{TENANT_AUTH_SUITE_DIR}/../..");
$ENV{TENANT_AUTH_PLUGIN_DIR} ||= "$root/build";
$ENV{TENANT_AUTH_SQL_DIR} ||= "$ENV{TENANT_AUTH_PLUGIN_DIR}/sql";

return "tenant_auth.so not found in $ENV{TENANT_AUTH_PLUGIN_DIR} (build it first)"
  unless -f "$ENV{TENANT_AUTH_PLUGIN_DIR}/tenant_auth.so";
return "install.sql not found in $ENV{TENANT_AUTH_SQL_DIR}"
  unless -f "$ENV{TENANT_AUTH_SQL_DIR}/install.sql";

sub is_default { 1 }

bless { };
