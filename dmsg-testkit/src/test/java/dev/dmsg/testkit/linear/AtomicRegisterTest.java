package dev.dmsg.testkit.linear;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real threads on a real atomic register, timed by {@code System::nanoTime}: whatever the
 * interleaving, the history is linearizable, timeouts and refusals included.
 */
@Timeout(20)
class AtomicRegisterTest {
    /** One key's register: every operation under its lock, so it takes effect atomically. */
    static final class Register {
        private Object value;

        synchronized Object apply(Op op) {
            switch (op.f()) {
                case "read" -> {
                    return value;
                }
                case "write" -> {
                    value = op.arg(0);
                    return null;
                }
                default -> {
                    boolean swap = Objects.equals(value, op.arg(0));
                    if (swap) {
                        value = op.arg(1);
                    }
                    return swap;
                }
            }
        }
    }

    @Test
    void threadsOnAnAtomicRegisterMakeALinearizableHistory() throws Exception {
        int threads = 4;
        int opsPerThread = 1000;
        Register[] regs = {new Register(), new Register(), new Register()};
        History h = new History(System::nanoTime);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int client = t;
                done.add(pool.submit(() -> drive(h, regs, client, opsPerThread, new Random(client))));
            }
            for (Future<?> f : done) {
                f.get(15, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel()).check(h);
        assertThat(h.size()).isEqualTo(threads * opsPerThread);
        assertThat(r.verdict()).as("%s", r).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(r.keys()).hasSize(regs.length);
    }

    private static void drive(History h, Register[] regs, int client, int ops, Random rnd) {
        for (int i = 0; i < ops; i++) {
            int k = rnd.nextInt(regs.length);
            String key = "r" + k;
            long v = client * 1_000_000L + i;
            Op op = switch (rnd.nextInt(3)) {
                case 0 -> RegisterModel.read(key);
                case 1 -> RegisterModel.write(key, v);
                default -> RegisterModel.cas(key, rnd.nextBoolean() ? regs[k].apply(RegisterModel.read(key)) : null, v);
            };
            History.Call call = h.invoke(client, op);
            int fate = rnd.nextInt(40);
            if (fate == 0) {
                call.fail(); // refused before anything happened
            } else if (fate == 1) {
                call.unknown(); // timed out before sending
            } else if (fate == 2) {
                regs[k].apply(op);
                call.unknown(); // timed out after it took effect
            } else {
                call.ok(regs[k].apply(op));
            }
        }
    }
}
