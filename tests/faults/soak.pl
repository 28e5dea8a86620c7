#!/usr/bin/perl
# tests/faults/soak.pl: writes the curl config of one soak batch and checks
# what curl printed for it. Terms: a "kind" is what a request carries:
# valid (a tenant's token), invalid (well-formed, unknown), malformed (bad
# checksum) or missing (no Authorization header). Every request is tagged in
# its query string, ?kind=K&t=I&n=N (tenant-authd ignores query strings), so
# each answer can be matched to what was sent.
#
# The tokens file has one line per token: KIND<TAB>INDEX<TAB>TOKEN<TAB>TENANT
# (TOKEN and TENANT are "-" where there is none).
#
#   soak.pl config BASE_URL TOKENS_FILE FIRST_N COUNT BODY_DIR
#     prints a curl -K config for requests FIRST_N .. FIRST_N+COUNT-1; each
#     valid request's body goes to BODY_DIR/N, the others' to /dev/null.
#   soak.pl check TOKENS_FILE FIRST_N COUNT BODY_DIR < CURL_OUTPUT
#     reads curl's "%{http_code} %{url_effective}" lines and prints
#     "sent=.. received=.. code_200=.. code_401=.. code_other=.. valid=..
#     invalid=.. malformed=.. missing=.. bad=..", then up to 5 "bad: ..."
#     lines naming requests whose answer was wrong or missing.
use strict;
use warnings;

my @KINDS = qw(valid invalid malformed missing);
my %EXPECT = (valid => 200, invalid => 401, malformed => 401, missing => 401);

sub usage {
  die "usage: $0 config BASE_URL TOKENS_FILE FIRST_N COUNT BODY_DIR\n"
    . "       $0 check TOKENS_FILE FIRST_N COUNT BODY_DIR < CURL_OUTPUT\n";
}

# Returns {kind => [[token, tenant], ...]} from the tokens file.
sub read_tokens {
  my ($file) = @_;
  my %t;
  open my $fh, '<', $file or die "$file: $!\n";
  while (<$fh>) {
    chomp;
    my ($kind, $idx, $token, $tenant) = split /\t/;
    $t{$kind}[$idx] = [$token, $tenant];
  }
  for my $k (@KINDS) {
    die "$file: no $k token\n" unless $t{$k} && @{ $t{$k} };
  }
  return \%t;
}

# The kind and token index of request n: kinds in turn, tokens in turn.
sub pick {
  my ($t, $n) = @_;
  my $kind = $KINDS[$n % @KINDS];
  my $count = @{ $t->{$kind} };
  return ($kind, int($n / @KINDS) % $count);
}

sub config {
  my ($base, $file, $first, $count, $dir) = @_;
  my $t = read_tokens($file);
  for my $n ($first .. $first + $count - 1) {
    my ($kind, $i) = pick($t, $n);
    my $token = $t->{$kind}[$i][0];
    print "next\n" if $n > $first;
    print "url = \"$base/api/v1/auth-test?kind=$kind&t=$i&n=$n\"\n";
    print "header = \"Authorization: Bearer $token\"\n" if $kind ne 'missing';
    printf "output = \"%s\"\n", $kind eq 'valid' ? "$dir/$n" : '/dev/null';
    print "write-out = \"%{http_code} %{url_effective}\\n\"\n";
    print "max-time = 120\n";
  }
}

sub check {
  my ($file, $first, $count, $dir) = @_;
  my $t = read_tokens($file);
  my (%sum, %seen, @bad);
  $sum{$_} = 0 for qw(received code_200 code_401 code_other bad), @KINDS;
  my $bad = sub { $sum{bad}++; push @bad, $_[0] if @bad < 5; };
  while (my $line = <STDIN>) {
    chomp $line;
    my ($code, $url) = split / /, $line, 2;
    my ($kind, $i, $n) = ($url // '') =~ /\?kind=(\w+)&t=(\d+)&n=(\d+)$/
      or do { $bad->("unparsable line '$line'"); next };
    if ($seen{$n}++) { $bad->("request $n answered twice"); next; }
    if ($n < $first || $n >= $first + $count) {
      $bad->("request $n was not sent"); next;
    }
    my ($want_kind, $want_i) = pick($t, $n);
    if ($kind ne $want_kind || $i != $want_i) {
      $bad->("request $n tagged $kind/$i, sent as $want_kind/$want_i"); next;
    }
    if ($code eq '000') { $bad->("request $n ($kind): no response"); next; }
    $sum{received}++;
    $sum{$kind}++;
    $sum{ $code eq '200' ? 'code_200' : $code eq '401' ? 'code_401'
                         : 'code_other' }++;
    if ($code ne $EXPECT{$kind}) {
      $bad->("request $n ($kind): status $code, expected $EXPECT{$kind}");
      next;
    }
    next unless $kind eq 'valid';
    # The body begins with the tenant (the rest: docs/http-api.md).
    my $want = "{\"tenant_id\":\"$t->{valid}[$i][1]\",";
    my $body = '';
    if (open my $fh, '<', "$dir/$n") { local $/; $body = <$fh> // ''; }
    (my $shown = $body) =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    $bad->("request $n (tenant $i): body '$shown', expected '$want...'")
      if index($body, $want) != 0;
  }
  for my $n ($first .. $first + $count - 1) {
    $bad->("request $n: curl printed nothing for it") unless $seen{$n};
  }
  print join(' ', "sent=$count",
             map { "$_=$sum{$_}" }
               qw(received code_200 code_401 code_other), @KINDS, 'bad'), "\n";
  print "bad: $_\n" for @bad;
}

my $mode = shift // usage();
if ($mode eq 'config' && @ARGV == 5) {
  config(@ARGV);
} elsif ($mode eq 'check' && @ARGV == 4) {
  check(@ARGV);
} else {
  usage();
}
