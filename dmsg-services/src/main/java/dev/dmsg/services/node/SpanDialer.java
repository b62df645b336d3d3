package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.wire.VolData;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps up the outgoing links the VOLCONF table asks for (docs/PROFILE.md §7): every ENABLED slot whose
 * path is {@code span:HOST[:PORT]} is a link, dialled again after any failure or drop with
 * jittered exponential backoff (1 s × 1.6 per failure, up to 120 s, ±20 %). C retried only until
 * the first success. A slot that changes or is disabled stops its dialler (and closes its link).
 */
public final class SpanDialer {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");
    public static final int DEFAULT_PORT = 987;

    private final LinkEndpoint endpoint;
    private final ScheduledExecutorService timer;
    private final Map<Integer, Dial> dials = new HashMap<>();
    private volatile boolean stopped;

    public SpanDialer(LinkEndpoint endpoint, ScheduledExecutorService timer) {
        this.endpoint = endpoint;
        this.timer = timer;
    }

    /** A {@code span:HOST[:PORT]} target, or {@code null} if {@code path} is not one. */
    public record Target(String host, int port) {
        public static Target parse(String path) {
            if (path == null || !path.startsWith("span:") || path.length() == 5) {
                return null;
            }
            String hp = path.substring(5);
            int colon = hp.lastIndexOf(':');
            if (colon > 0 && hp.indexOf(':') == colon) {
                try {
                    int port = Integer.parseInt(hp.substring(colon + 1));
                    if (port < 1 || port > 65535) {
                        return null;
                    }
                    return new Target(hp.substring(0, colon), port);
                } catch (NumberFormatException e) {
                    return null;
                }
            }
            return new Target(hp, DEFAULT_PORT);
        }

        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    /** Backoff before attempt {@code failures + 1}: 1 s × 1.6^failures, at most 120 s, ±20 %. */
    public static long backoffMillis(int failures) {
        double base = Math.min(120_000, 1000 * Math.pow(1.6, Math.min(failures, 30)));
        return (long) (base * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble()));
    }

    /** Applies a slot's value: starts, restarts or stops its dialler. */
    public synchronized void slot(int index, VolData v) {
        Target t = VolconfTable.enabled(v) ? Target.parse(v.path()) : null;
        Dial d = dials.get(index);
        if (d != null && d.target.equals(t)) {
            return;
        }
        if (d != null) {
            d.stop();
            dials.remove(index);
        }
        if (t != null && !stopped) {
            Dial n = new Dial(index, t);
            dials.put(index, n);
            n.dial();
        }
    }

    /** The link each slot currently has, if up (for status). */
    public synchronized Map<Integer, Link> links() {
        Map<Integer, Link> out = new HashMap<>();
        dials.forEach((i, d) -> {
            if (d.link != null) {
                out.put(i, d.link);
            }
        });
        return out;
    }

    public synchronized void stop() {
        stopped = true;
        dials.values().forEach(Dial::stop);
        dials.clear();
    }

    private final class Dial {
        final int index;
        final Target target;
        volatile boolean cancelled;
        volatile Link link;
        int failures;

        Dial(int index, Target target) {
            this.index = index;
            this.target = target;
        }

        void dial() {
            if (cancelled || stopped) {
                return;
            }
            endpoint.connect(target.host(), target.port()).whenComplete((l, err) -> {
                if (err != null) {
                    long wait = backoffMillis(failures++);
                    log.warn("volconf slot {}: link to {} failed: {}; retrying in {} ms", index, target,
                        rootMessage(err), wait);
                    retry(wait);
                    return;
                }
                if (cancelled || stopped) {
                    l.close();
                    return;
                }
                link = l;
                failures = 0;
                l.closeFuture().thenAccept(why -> {
                    link = null;
                    if (!cancelled && !stopped) {
                        long wait = backoffMillis(failures++);
                        log.info("volconf slot {}: link to {} down ({}); reconnecting in {} ms", index, target, why, wait);
                        retry(wait);
                    }
                });
            });
        }

        void retry(long millis) {
            if (!cancelled && !stopped) {
                try {
                    timer.schedule(this::dial, millis, TimeUnit.MILLISECONDS);
                } catch (RejectedExecutionException e) {
                    // shutting down
                }
            }
        }

        void stop() {
            cancelled = true;
            Link l = link;
            if (l != null) {
                l.close();
            }
        }
    }

    static String rootMessage(Throwable t) {
        while (t.getCause() != null && (t.getMessage() == null || t instanceof CompletionException)) {
            t = t.getCause();
        }
        return t.getMessage();
    }
}
