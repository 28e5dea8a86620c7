#!/usr/bin/perl
# tests/gateway/backend.pl PORT-FILE: the backend behind the gateways under
# test. Listens on a free port of 127.0.0.1 (written to PORT-FILE), answers
# every request 200 with a body that lists, one line each and in order, the
# request line and every X-Tenant-Id, X-Token-Id, X-Forwarded-For and
# X-Real-IP header it received, and the OIDC_CLAIM_* headers Apache's
# mod_auth_openidc adds, so a test sees duplicates. One connection at a time, closed
# after each answer.
use strict;
use warnings;
use IO::Socket::INET;

my $port_file = shift or die "usage: backend.pl PORT-FILE\n";
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Proto => 'tcp', Listen => 64, ReuseAddr => 1)
  or die "backend.pl: listen: $!\n";
open(my $fh, '>', "$port_file.tmp") or die "backend.pl: $port_file: $!\n";
print $fh $srv->sockport, "\n";
close $fh;
rename "$port_file.tmp", $port_file or die "backend.pl: rename: $!\n";

while (my $c = $srv->accept) {
  $c->timeout(5);
  my ($line, @seen) = ('');
  my $first = <$c>;
  next unless defined $first;
  $first =~ s/\r?\n$//;
  push @seen, "request: $first";
  while (defined($line = <$c>)) {
    $line =~ s/\r?\n$//;
    last if $line eq '';
    push @seen, $line
      if $line =~ /^(x-tenant-id|x-token-id|x-forwarded-for|x-real-ip|oidc_claim_\w+):/i;
  }
  my $body = join("\n", @seen) . "\n";
  print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
    . length($body) . "\r\nConnection: close\r\n\r\n$body";
  close $c;
}
