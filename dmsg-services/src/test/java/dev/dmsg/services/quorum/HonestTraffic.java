package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An honest client's writes and reads running while an attack does (the house rule: honest
 * traffic is checked during every attack): puts {@code PREFIX/i} one after another and reads each
 * back, until stopped. Every put and read must succeed; {@link #stop} says how many did.
 */
final class HonestTraffic implements AutoCloseable {
    private final QuorumClient client;
    private final String prefix;
    private final Thread thread;
    private final AtomicInteger done = new AtomicInteger();
    private final List<Throwable> failures = new CopyOnWriteArrayList<>();
    private volatile boolean stop;

    HonestTraffic(QuorumClient client, String prefix) {
        this.client = client;
        this.prefix = prefix;
        this.thread = new Thread(this::run, "honest-" + prefix);
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        for (int i = 0; !stop && failures.isEmpty(); i++) {
            String k = prefix + i;
            byte[] v = ("v" + i).getBytes(StandardCharsets.UTF_8);
            try {
                client.put(k, v).get(20, TimeUnit.SECONDS);
                byte[] back = client.get(k).get(20, TimeUnit.SECONDS);
                if (back == null || !new String(back, StandardCharsets.UTF_8).equals("v" + i)) {
                    throw new AssertionError("read back " + k + ": " + (back == null ? "absent" : new String(back,
                        StandardCharsets.UTF_8)));
                }
                done.incrementAndGet();
            } catch (Exception | AssertionError e) {
                failures.add(e);
            }
        }
    }

    /** Puts read back so far. */
    int done() {
        return done.get();
    }

    /**
     * Lets the client get to {@code atLeast} writes read back (waiting up to 30 s: the attack's
     * requests may be over before it got that far), stops it, asserts that nothing failed; returns
     * how many writes it made.
     */
    int stop(int atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (done.get() < atLeast && failures.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50); // polling the client's progress; it has no notification
        }
        stop = true;
        thread.join(TimeUnit.SECONDS.toMillis(45));
        assertThat(thread.isAlive()).as("the honest client finished its last request").isFalse();
        assertThat(failures).as("the honest client's requests during the attack").isEmpty();
        assertThat(done.get()).as("honest writes read back during the attack").isGreaterThanOrEqualTo(atLeast);
        return done.get();
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        thread.join(TimeUnit.SECONDS.toMillis(45));
    }
}
