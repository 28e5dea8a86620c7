# The tenant_auth mysql-test-run suite. Run it from the checkout with
#   mariadb-test-run.pl --suite=/path/to/tenant_auth
# MTR splits a suite name at '-', so the path must hold none: scripts/mtr
# links this directory from a temporary one and runs it that way.
# The UDF library is looked up in $TENANT_AUTH_PLUGIN_DIR (default: build/ of
# this checkout); the SQL scripts in its sql/ (install.sql is written by the
# build from sql/install.sql.in).
# suite.opt turns the Sequence engine on (--loose-sequence): MTR starts the
# server with optional plugins off, and verify_tenant_token_hashes reads it.
package My::Suite::Tenant_auth;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

@ISA = qw(My::Suite);

my $root = abs_path(dirname(abs_path(__FILE__)) . "/../..");
$ENV{TENANT_AUTH_PLUGIN_DIR} ||= "$root/build";
$ENV{TENANT_AUTH_SQL_DIR} ||= "$ENV{TENANT_AUTH_PLUGIN_DIR}/sql";
# The suite's own files (std_data/: the released install.sql of 1.0.0).
$ENV{TENANT_AUTH_SUITE_DIR} = dirname(abs_path(__FILE__));

return "tenant_auth.so not found in $ENV{TENANT_AUTH_PLUGIN_DIR} (build it first)"
  unless -f "$ENV{TENANT_AUTH_PLUGIN_DIR}/tenant_auth.so";
return "install.sql not found in $ENV{TENANT_AUTH_SQL_DIR}"
  unless -f "$ENV{TENANT_AUTH_SQL_DIR}/install.sql";

sub is_default { 1 }

bless { };
