#!/usr/bin/perl
# tests/faults/sockets.pl: raw TCP clients for tests/faults/run, against
# 127.0.0.1 only. Terms: a "flood" opens many idle connections and holds
# them; a "staller" sends part of a request header once and then nothing; a
# "trickler" sends one more header byte every second and never finishes.
#
#   sockets.pl flood PORT N LIMIT RELEASE_FILE MAX_HOLD_S
#     Opens N connections and watches them without sending until the
#     server has closed all but LIMIT of them: those are "refused". Then
#     sends "GET /healthz" on each other one and waits until each is served
#     or closed; prints "connected=.. refused=.. served=.. closed=..
#     pending=.. refused_max_ms=.." (pending: no answer, still open;
#     refused_max_ms: the longest time from a refused connection's connect
#     to the end of file the client saw), then holds every socket until
#     RELEASE_FILE exists (at most MAX_HOLD_S seconds), closes the served
#     ones, waits for the pending ones to be answered, prints "released
#     served_later=N" and closes all. Each wait is for a state; its bound
#     (WAIT_S, 120 s) only guards against hanging, and a server that
#     refuses too few, or leaves requests unanswered, is seen when it ends.
#   sockets.pl slow PORT N_TRICKLE N_STALL SECONDS
#     Runs N_TRICKLE tricklers and N_STALL stallers for at most SECONDS and
#     prints one line per socket: "KIND INDEX eof_ms=MS" (the server closed
#     it MS after it connected) or "KIND INDEX open".
#   sockets.pl reset PORT N REQUEST_FILE
#     N times: connects, sends the request held in REQUEST_FILE, waits
#     (I % 4) ms, then closes with SO_LINGER 0, which sends a TCP reset
#     instead of a FIN: the reset meets tenant-authd reading the request,
#     waiting for the database or sending the answer. Prints "resets=N".
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);

$SIG{PIPE} = 'IGNORE';
$| = 1;

use constant WAIT_S => 120;

sub usage { die "usage: $0 flood PORT N LIMIT RELEASE_FILE MAX_HOLD_S\n"
              . "       $0 slow PORT N_TRICKLE N_STALL SECONDS\n"
              . "       $0 reset PORT N REQUEST_FILE\n"; }

sub connect_one {
  my ($port) = @_;
  return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                               Proto => 'tcp', Timeout => 2);
}

# Reads what is there without blocking: returns "eof", "data" or "none".
sub poll_read {
  my ($s, $buf) = @_;
  my $n = sysread($s, $$buf, 65536, length $$buf);
  return 'eof' if defined $n && $n == 0;
  return 'data' if defined $n;
  return 'none' if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
  return 'eof';    # ECONNRESET and the like: closed by the server
}

sub flood {
  my ($port, $n, $limit, $release, $max_hold) = @_;
  my (@socks, @t0);
  for (1 .. $n) {
    my $s = connect_one($port) or last;
    push @socks, $s;
    push @t0, time;
    $s->blocking(0);
  }
  my %state;    # index => refused | served | closed
  my %buf = map { $_ => '' } 0 .. $#socks;
  # Before anything is asked: which connections does the server close?
  my $refused_max_ms = 0;
  my $deadline = time + WAIT_S;
  while (time < $deadline) {
    my $sel = IO::Select->new(map { $socks[$_] }
                              grep { !$state{$_} } 0 .. $#socks);
    last if $sel->count <= $limit;
    for my $s ($sel->can_read(0.05)) {
      my ($i) = grep { $socks[$_] == $s } 0 .. $#socks;
      next unless poll_read($s, \$buf{$i}) eq 'eof';
      $state{$i} = 'refused';
      my $ms = int((time - $t0[$i]) * 1000);
      $refused_max_ms = $ms if $ms > $refused_max_ms;
    }
  }
  for my $i (grep { !$state{$_} } 0 .. $#socks) {
    my $w = syswrite($socks[$i],
                     "GET /healthz HTTP/1.1\r\nHost: flood\r\n\r\n");
    $state{$i} = 'closed' unless defined $w;
  }
  $deadline = time + WAIT_S;
  while (time < $deadline) {
    my $sel = IO::Select->new(map { $socks[$_] }
                              grep { !$state{$_} } 0 .. $#socks);
    last if $sel->count == 0;
    for my $s ($sel->can_read(0.1)) {
      my ($i) = grep { $socks[$_] == $s } 0 .. $#socks;
      my $r = poll_read($s, \$buf{$i});
      if ($buf{$i} =~ m{^HTTP/1\.[01] 200 }) {
        $state{$i} = 'served';
      } elsif ($r eq 'eof') {
        $state{$i} = 'closed';
      }
    }
  }
  my %count = (refused => 0, served => 0, closed => 0, pending => 0);
  $count{ $state{$_} // 'pending' }++ for 0 .. $#socks;
  printf "connected=%d refused=%d served=%d closed=%d pending=%d "
    . "refused_max_ms=%d\n", scalar @socks, $count{refused}, $count{served},
    $count{closed}, $count{pending}, $refused_max_ms;
  my $until = time + $max_hold;
  sleep 0.05 while !-e $release && time < $until;
  # Free the slots the served ones hold, and see whether those that waited
  # are served now.
  close $socks[$_] for grep { ($state{$_} // "") eq "served" } 0 .. $#socks;
  my @waiting = grep { !$state{$_} } 0 .. $#socks;
  my $later = 0;
  $deadline = time + WAIT_S;
  while (@waiting && time < $deadline) {
    my $sel = IO::Select->new(map { $socks[$_] } @waiting);
    for my $s ($sel->can_read(0.1)) {
      my ($i) = grep { $socks[$_] == $s } @waiting;
      my $r = poll_read($s, \$buf{$i});
      if ($buf{$i} =~ m{^HTTP/1\.[01] 200 }) {
        $later++;
        @waiting = grep { $_ != $i } @waiting;
        close $s;
      } elsif ($r eq "eof") {
        @waiting = grep { $_ != $i } @waiting;
      }
    }
  }
  close $_ for @socks;
  printf "released served_later=%d\n", $later;
}

sub slow {
  my ($port, $n_trickle, $n_stall, $seconds) = @_;
  my $header = "GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: "
             . ('a' x 4000);
  my @c;    # {kind, index, sock, t0, sent, eof_ms}
  for my $kind (['trickle', $n_trickle], ['stall', $n_stall]) {
    for my $i (1 .. $kind->[1]) {
      my $s = connect_one($port) or die "connect: $!\n";
      $s->blocking(0);
      push @c, {kind => $kind->[0], index => $i, sock => $s, t0 => time,
                sent => 0, buf => ''};
    }
  }
  # A staller sends the request line and one header, then stays silent.
  for my $c (grep { $_->{kind} eq 'stall' } @c) {
    syswrite($c->{sock}, "GET /healthz HTTP/1.1\r\nHost: slow\r\n");
  }
  my $end = time + $seconds;
  my $next_byte = time;
  while (time < $end) {
    my @open = grep { !defined $_->{eof_ms} } @c;
    last unless @open;
    if (time >= $next_byte) {
      for my $c (grep { $_->{kind} eq 'trickle' } @open) {
        syswrite($c->{sock}, substr($header, $c->{sent}++, 1));
      }
      $next_byte += 1;
    }
    my $sel = IO::Select->new(map { $_->{sock} } @open);
    for my $s ($sel->can_read(0.05)) {
      my ($c) = grep { $_->{sock} == $s } @open;
      if (poll_read($s, \$c->{buf}) eq 'eof') {
        $c->{eof_ms} = int((time - $c->{t0}) * 1000);
      }
    }
  }
  for my $c (@c) {
    printf "%s %d %s\n", $c->{kind}, $c->{index},
      defined $c->{eof_ms} ? "eof_ms=$c->{eof_ms}" : 'open';
    close $c->{sock};
  }
}

sub reset_after_send {
  my ($port, $n, $file) = @_;
  open my $fh, '<:raw', $file or die "$file: $!\n";
  my $req = do { local $/; <$fh> };
  close $fh;
  my $resets = 0;
  for my $i (1 .. $n) {
    my $s = connect_one($port) or die "connect: $!\n";
    syswrite($s, $req);
    sleep(($i % 4) / 1000);
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) or die "SO_LINGER: $!\n";
    close $s;
    $resets++;
  }
  print "resets=$resets\n";
}

my $mode = shift // usage();
if ($mode eq 'flood' && @ARGV == 5) {
  flood(@ARGV);
} elsif ($mode eq 'slow' && @ARGV == 4) {
  slow(@ARGV);
} elsif ($mode eq 'reset' && @ARGV == 3) {
  reset_after_send(@ARGV);
} else {
  usage();
}
