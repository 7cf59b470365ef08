# String tests, plus one skipped and one flaky test.

test_str_concat() {
  s="foo""bar"
  [ "$s" = "foobar" ]
}

test_str_upper() {
  [ "$(echo abc | tr a-z A-Z)" = "ABC" ]
}

# Exit status 77 means "skipped"; the last line of output is the reason.
test_net_fetch() {
  echo "no network in this sandbox"
  return 77
}

# Fails the first time it ever runs, passes afterwards: with retry_count >= 1
# offload reports it as flaky (exit code 2 when nothing else failed).
# Delete .state/ to see that again.
test_flaky_once() {
  state="${TAP_STATE_DIR:-.state}"
  if [ -e "$state/flaky_once" ]; then
    return 0
  fi
  mkdir -p "$state" && touch "$state/flaky_once"
  echo "first attempt fails on purpose"
  return 1
}
