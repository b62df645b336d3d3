package dev.dmsg.testkit.linear;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The checker agrees with the definition on small random histories: a brute-force search over
 * every order of every subset of the unknown operations, with no memo and no pruning, gives the
 * same verdict. This guards the checker's own prunings (see {@code KeySearch}), which Porcupine
 * does not have. The seed is fixed; a disagreement prints the history.
 */
@Timeout(20)
class BruteForceTest {
    static final Object[] VALUES = {null, 1L, 2L};
    static final RegisterModel MODEL = new RegisterModel();

    @Test
    void theCheckerAgreesWithBruteForceOnRandomSmallHistories() {
        Random rnd = new Random(20261207);
        LinearizabilityChecker<RegisterModel.Value> checker = new LinearizabilityChecker<>(MODEL);
        int linearizable = 0;
        int histories = 4000;
        for (int h = 0; h < histories; h++) {
            List<Operation> ops = randomHistory(rnd, 3 + rnd.nextInt(6));
            boolean expected = bruteForce(ops);
            CheckResult r = checker.check(ops);
            assertThat(r.verdict()).as("history %d: %s%n%s", h, ops, r)
                .isEqualTo(expected ? Verdict.LINEARIZABLE : Verdict.NOT_LINEARIZABLE);
            linearizable += expected ? 1 : 0;
        }
        // Both verdicts are well represented, or the comparison shows little.
        assertThat(linearizable).isBetween(histories / 5, histories * 4 / 5);
    }

    private static List<Operation> randomHistory(Random rnd, int n) {
        List<Operation> ops = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long invoke = rnd.nextInt(20);
            long complete = invoke + rnd.nextInt(8);
            Object v = VALUES[rnd.nextInt(VALUES.length)];
            Op op;
            Object result;
            switch (rnd.nextInt(3)) {
                case 0 -> {
                    op = RegisterModel.read("x");
                    result = VALUES[rnd.nextInt(VALUES.length)];
                }
                case 1 -> {
                    op = RegisterModel.write("x", v);
                    result = null;
                }
                default -> {
                    op = RegisterModel.cas("x", VALUES[rnd.nextInt(VALUES.length)], v);
                    result = rnd.nextBoolean();
                }
            }
            int fate = rnd.nextInt(10);
            Operation.Outcome outcome = fate < 7 ? Operation.Outcome.OK : fate < 9 ? Operation.Outcome.UNKNOWN
                : Operation.Outcome.FAIL;
            ops.add(new Operation(i, i, op, invoke, outcome, complete, outcome == Operation.Outcome.OK ? result : null));
        }
        return ops;
    }

    /** Whether some order of all completed operations and some of the unknown ones fits the model and real time. */
    static boolean bruteForce(List<Operation> all) {
        List<Operation> ops = new ArrayList<>();
        for (Operation o : all) {
            if (o.outcome() != Operation.Outcome.FAIL) {
                ops.add(o);
            }
        }
        return search(ops, new boolean[ops.size()], MODEL.initial());
    }

    private static boolean search(List<Operation> ops, boolean[] placed, RegisterModel.Value state) {
        boolean allDone = true;
        for (int i = 0; i < ops.size(); i++) {
            allDone &= placed[i] || ops.get(i).outcome() != Operation.Outcome.OK;
        }
        if (allDone) {
            return true;
        }
        for (int i = 0; i < ops.size(); i++) {
            Operation o = ops.get(i);
            if (placed[i] || !mayGoNext(ops, placed, o)) {
                continue;
            }
            boolean ok = o.outcome() == Operation.Outcome.OK;
            RegisterModel.Value next = MODEL.step(state, o.op(), ok ? o.result() : Model.UNKNOWN);
            if (!ok && next == null) {
                next = state; // an unknown cas that did not swap: it may still have happened
            }
            if (next == null) {
                continue;
            }
            placed[i] = true;
            boolean found = search(ops, placed, next);
            placed[i] = false;
            if (found) {
                return true;
            }
        }
        return false;
    }

    /** Real time: every completed operation that returned strictly before {@code o} was invoked is placed. */
    private static boolean mayGoNext(List<Operation> ops, boolean[] placed, Operation o) {
        for (int j = 0; j < ops.size(); j++) {
            Operation p = ops.get(j);
            if (!placed[j] && p.outcome() == Operation.Outcome.OK && p.completeNanos() < o.invokeNanos()) {
                return false;
            }
        }
        return true;
    }
}
