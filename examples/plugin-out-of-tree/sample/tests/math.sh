# Arithmetic tests. Sourced by ../run-tests.sh; each test_* function is a test.

test_math_add() {
  [ $((2 + 2)) -eq 4 ]
}

test_math_mul() {
  [ $((6 * 7)) -eq 42 ]
}

# Fails on purpose: shell arithmetic truncates.
test_math_div() {
  result=$((7 / 2))
  if [ "$result" -ne 4 ]; then
    echo "expected 4, got $result"
    echo "(shell arithmetic is integer arithmetic)"
    return 1
  fi
}
