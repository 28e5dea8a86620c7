#!/usr/bin/env perl
# tests/http/rawhttp.pl: a tiny HTTP/1.1 client for requests curl will not
# send (NUL and other raw bytes) and for many requests over one keep-alive
# connection. The request is read from stdin, byte for byte.
#
#   rawhttp.pl one HOST PORT       send it once; print the status, or
#                                  "closed" / "timeout" when none came
#   rawhttp.pl repeat HOST PORT N [START]
#                                  send it N times, reconnecting whenever
#                                  the server closes; print "STATUS COUNT"
#                                  lines. In the request, {i} becomes the
#                                  request number (START, default 0, to
#                                  START+N-1) and {ip4} an IPv4 address
#                                  unique to it (198.18.0.0/15).
use strict;
use warnings;
use IO::Socket::IP;
use IO::Select;

my ($mode, $host, $port, $n, $start) = @ARGV;
$start //= 0;
die "usage: $0 one|repeat HOST PORT [N [START]]\n"
  unless defined $port && ($mode eq 'one' || ($mode eq 'repeat' && defined $n));
binmode STDIN;
my $template = do { local $/; <STDIN> };
my $timeout = 5;

sub connect_server {
  my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
                                Proto => 'tcp', Timeout => $timeout)
    or die "connect $host:$port: $!\n";
  binmode $s;
  return $s;
}

# Reads one response; returns its status (or "closed"/"timeout") and whether
# the server will keep the connection.
sub read_response {
  my ($s) = @_;
  my $sel = IO::Select->new($s);
  my $buf = '';
  my $read = sub {
    return 'timeout' unless $sel->can_read($timeout);
    my $got = sysread($s, $buf, 65536, length $buf);
    return 'closed' unless $got;
    return '';
  };
  while (index($buf, "\r\n\r\n") < 0) {
    my $why = $read->();
    return ($why, 0) if $why ne '';
  }
  my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
  my ($code) = $head =~ m{^HTTP/1\.[01] (\d{3})};
  return ('closed', 0) unless defined $code;
  my ($len) = $head =~ /^Content-Length:[ \t]*(\d+)/mi;
  $len = 0 if !defined $len || $code == 204 || $code == 304;
  while (length($rest) < $len) {
    $buf = $rest;
    my $why = $read->();
    return ($code, 0) if $why ne '';
    $rest = $buf;
  }
  my $keep = $head !~ /^Connection:[ \t]*close/mi;
  return ($code, $keep);
}

sub send_all {
  my ($s, $data) = @_;
  local $SIG{PIPE} = 'IGNORE';
  my $off = 0;
  while ($off < length $data) {
    my $w = syswrite($s, $data, length($data) - $off, $off);
    return 0 unless $w;
    $off += $w;
  }
  return 1;
}

if ($mode eq 'one') {
  my $s = connect_server();
  send_all($s, $template);
  my ($code) = read_response($s);
  print "$code\n";
  exit 0;
}

my %count;
my $s;
for my $i ($start .. $start + $n - 1) {
  my $req = $template;
  my $ip4 = sprintf '198.%d.%d.%d', 18 + (($i >> 16) & 1), ($i >> 8) & 255,
    $i & 255;
  $req =~ s/\{i\}/$i/g;
  $req =~ s/\{ip4\}/$ip4/g;
  $s //= connect_server();
  my ($code, $keep) = send_all($s, $req) ? read_response($s) : ('closed', 0);
  $count{$code}++;
  if (!$keep) {
    close $s;
    undef $s;
  }
}
print "$_ $count{$_}\n" for sort keys %count;
