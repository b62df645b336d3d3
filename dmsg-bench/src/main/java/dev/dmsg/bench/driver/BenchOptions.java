package dev.dmsg.bench.driver;

import dev.dmsg.bench.driver.Side.Producer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Option;

/** What to run and for how long; shared by {@code bench all} and {@code bench client}. */
final class BenchOptions {
    enum ProducerChoice { loop, thread, both }

    @Option(names = "--seconds", paramLabel = "S", defaultValue = "2",
        description = "measured seconds per repetition (default: ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--warmup", paramLabel = "S", defaultValue = "1",
        description = "warm-up seconds before every repetition (default: ${DEFAULT-VALUE})")
    double warmup;

    @Option(names = "--first-warmup", paramLabel = "S", defaultValue = "3",
        description = "warm-up seconds before a scenario's first repetition: on 2 cores the JIT competes with both "
            + "busy event loops and needs a few seconds (default: ${DEFAULT-VALUE})")
    double firstWarmup;

    @Option(names = "--reps", paramLabel = "N", defaultValue = "3",
        description = "repetitions per scenario; the table shows medians (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--scenarios", paramLabel = "LIST", split = ",",
        defaultValue = "oneway64,bulk64k,pipeline128,rtt,slowconsumer",
        description = "which scenarios, comma-separated (default: ${DEFAULT-VALUE})")
    List<String> scenarios;

    @Option(names = "--producer", paramLabel = "WAY", defaultValue = "both",
        description = "how oneway64/bulk64k produce on the DMSG link: loop (on the event loop, in batches while "
            + "writable), thread (a thread of ours, blocked by backpressure), both (default: ${DEFAULT-VALUE})")
    ProducerChoice producer;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "1024",
        description = "messages per turn of an event-loop producer, DMSG and raw (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--slow-seconds", paramLabel = "S", defaultValue = "10",
        description = "duration of the slow-consumer run (default: ${DEFAULT-VALUE})")
    double slowSeconds;

    @Option(names = "--slow-aux", paramLabel = "BYTES", defaultValue = "4096",
        description = "aux bytes per message in the slow-consumer run (default: ${DEFAULT-VALUE})")
    int slowAux;

    @Option(names = "--slow-producer", paramLabel = "WAY", defaultValue = "THREAD",
        description = "DMSG producer of the slow-consumer run: LOOP or THREAD (default: ${DEFAULT-VALUE})")
    Producer slowProducer;

    @Option(names = "--tls", paramLabel = "OFF|JDK|OPENSSL", defaultValue = "OFF",
        description = "the DMSG link over TLS 1.3 with pinned keys, on this provider (default: ${DEFAULT-VALUE}); "
            + "the raw-Netty baseline stays plaintext")
    BenchTls.Mode tls;

    @Option(names = "--tls-dir", paramLabel = "DIR", hidden = true,
        description = "the two key pairs (made by 'bench all'; give it to 'bench client' run by hand)")
    Path tlsDir;

    @Option(names = "--strict", description = "exit 3 when a scenario ran but missed its target")
    boolean strict;

    @Option(names = "--verbose", description = "print the per-second memory maxima of the slow-consumer run")
    boolean verbose;

    /** Warm-up before repetition {@code rep} (1-based), nanoseconds. */
    long warmupNanos(int rep) {
        return (long) ((rep == 1 ? Math.max(warmup, firstWarmup) : warmup) * 1e9);
    }

    List<Producer> producers() {
        return switch (producer) {
            case loop -> List.of(Producer.LOOP);
            case thread -> List.of(Producer.THREAD);
            case both -> List.of(Producer.LOOP, Producer.THREAD);
        };
    }

    /** Prints what is wrong with the options, if anything, and says whether they are usable. */
    boolean valid(PrintStream err) {
        try {
            check();
            return true;
        } catch (IllegalArgumentException e) {
            err.println("bench: " + e.getMessage());
            return false;
        }
    }

    void check() {
        if (seconds <= 0 || warmup < 0 || firstWarmup < 0 || reps < 1 || slowSeconds <= 0 || batch < 1) {
            throw new IllegalArgumentException("need --seconds > 0, --warmup >= 0, --reps >= 1, --slow-seconds > 0, --batch >= 1");
        }
        if (slowAux < 0 || slowAux > 65536) {
            throw new IllegalArgumentException("--slow-aux must be 0..65536");
        }
        for (String s : scenarios) {
            BenchClient.Scenario.of(s);
        }
    }

    String describe() {
        return String.format(Locale.ROOT,
            "reps %d, %.1f s measured + %.1f s warm-up each (%.1f s before the first), producer %s, batch %d, slow consumer %.0f s with %d-byte aux, TLS %s",
            reps, seconds, warmup, firstWarmup, producer, batch, slowSeconds, slowAux, tls);
    }
}
