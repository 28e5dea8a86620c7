#!/usr/bin/env perl
# tests/http/mix.pl: many concurrent keep-alive clients asking /auth about a
# mix of tokens, each answer checked against what it must be. A "case" is a
# line of the cases file: TOKEN<TAB>TENANT, TENANT "-" when the token must
# be refused (unknown, revoked, expired). Client c sends cases c, c+1, ...
# in turn, so at any moment the clients ask about different tokens, and the
# same token from several clients at once (duplicates in one batch).
#
#   mix.pl HOST PORT CASES_FILE CLIENTS REQUESTS
#     prints "sent=N right=N wrong=N unavailable=N other=N", then up to 5
#     "wrong: ..." lines (never a whole token). right: 204 with the expected
#     X-Tenant-Id, or 401 for a token that must be refused; wrong: any other
#     verdict (a 204 with another tenant, a 401 for a valid token, a 204 for
#     a refused one); unavailable: 503; other: no answer (none for 60 s, a
#     bound against hanging, not a deadline) or another status.
use strict;
use warnings;
use IO::Socket::IP;
use IO::Select;

my ($host, $port, $file, $clients, $requests) = @ARGV;
die "usage: $0 HOST PORT CASES_FILE CLIENTS REQUESTS\n" unless defined $requests;
open my $fh, '<', $file or die "$file: $!\n";
my @cases = map { chomp; [split /\t/] } <$fh>;
close $fh;
die "$file: no cases\n" unless @cases;

# One request over $s; returns (status, tenant) or () when the connection
# broke. Reads exactly one response (no body: 204/401/503 bodies are read
# by Content-Length).
sub ask {
  my ($s, $token) = @_;
  print $s "GET /auth HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer $token\r\n\r\n"
    or return ();
  my $buf = '';
  my $sel = IO::Select->new($s);
  while ($buf !~ /\r\n\r\n/) {
    return () unless $sel->can_read(60);
    my $n = sysread($s, $buf, 65536, length $buf);
    return () unless $n;
  }
  my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
  my ($status) = $head =~ m{^HTTP/1\.1 (\d{3})} or return ();
  my ($tenant) = $head =~ /^X-Tenant-Id: *(\S+)/mi;
  my ($len) = $head =~ /^Content-Length: *(\d+)/mi;
  $len //= 0;
  while (length($rest) < $len) {
    return () unless $sel->can_read(60);
    my $n = sysread($s, $rest, 65536, length $rest);
    return () unless $n;
  }
  return ($status, $tenant // '');
}

sub client {
  my ($c) = @_;
  my %n = (sent => 0, right => 0, wrong => 0, unavailable => 0, other => 0);
  my @wrong;
  my $s;
  for my $r (0 .. $requests - 1) {
    my ($token, $want) = @{ $cases[($c + $r) % @cases] };
    $s ||= IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
                               Proto => 'tcp', Timeout => 5);
    $n{sent}++;
    my ($status, $tenant) = $s ? ask($s, $token) : ();
    if (!defined $status) {
      $n{other}++;
      undef $s;
      next;
    }
    if ($status eq '503') {
      $n{unavailable}++;
    } elsif (($status eq '204' && $want ne '-' && $tenant eq $want)
             || ($status eq '401' && $want eq '-')) {
      $n{right}++;
    } elsif ($status eq '204' || $status eq '401') {
      $n{wrong}++;
      push @wrong, sprintf('%s... want %s, got %s %s', substr($token, 0, 8),
                           $want, $status, $tenant) if @wrong < 5;
    } else {
      $n{other}++;
    }
  }
  return (\%n, \@wrong);
}

# Each client is a process; it writes its counts to a pipe.
my @kids;
for my $c (0 .. $clients - 1) {
  pipe(my $rd, my $wr) or die "pipe: $!\n";
  my $pid = fork // die "fork: $!\n";
  if ($pid == 0) {
    close $rd;
    my ($n, $wrong) = client($c);
    print $wr join(' ', map { "$_=$n->{$_}" } sort keys %$n), "\n";
    print $wr "wrong: $_\n" for @$wrong;
    close $wr;
    exit 0;
  }
  close $wr;
  push @kids, [$pid, $rd];
}
my %total = (sent => 0, right => 0, wrong => 0, unavailable => 0, other => 0);
my @wrong;
for my $k (@kids) {
  my ($pid, $rd) = @$k;
  while (my $line = <$rd>) {
    if ($line =~ /^wrong: /) {
      push @wrong, $line if @wrong < 5;
      next;
    }
    $total{$1} += $2 while $line =~ /(\w+)=(\d+)/g;
  }
  waitpid $pid, 0;
}
print join(' ', map { "$_=$total{$_}" } qw(sent right wrong unavailable other)), "\n";
print @wrong;
