# Contends one kernel mutex (a pipe's pipe->mutex, taken by every pipe_write and pipe_read):
# $procs writer and $procs reader processes share one pipe and move $n bytes each, one byte per
# call. Exits when all are done.
my ($procs, $n) = @ARGV;
pipe(my $r, my $w) or die;
my @kids;
for my $i (1 .. $procs) {
  for my $role ('w', 'r') {
    my $pid = fork();
    if (!$pid) {
      my $b;
      if ($role eq 'w') { for (1 .. $n) { syswrite($w, 'x', 1) } }
      else { my $got = 0; while ($got < $n) { $got += sysread($r, $b, 1) } }
      exit 0;
    }
    push @kids, $pid;
  }
}
waitpid($_, 0) for @kids;
