package dev.dmsg.cli;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.services.EchoService;
import dev.dmsg.wire.ErrorCode;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg node}: runs a node that listens, keeps its outgoing links up (reconnecting with
 * jittered exponential backoff after any failure or drop), logs every link change with its
 * reason, and closes its links in order on SIGTERM or Ctrl-C.
 */
@Command(name = "node", mixinStandardHelpOptions = true,
    description = "Runs a DMSG node: listens, keeps its --connect links up, logs link changes.")
final class NodeCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    @Option(names = "--listen", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
        description = "address to accept links on (default: ${DEFAULT-VALUE})", defaultValue = "127.0.0.1:9870")
    HostPort listen;

    @Option(names = "--connect", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
        description = "a peer to keep a link to (repeatable)")
    List<HostPort> connect = new ArrayList<>();

    @Option(names = "--label", description = "this node's label (default: the listen address)")
    String label;

    @Option(names = "--ping-interval", paramLabel = "DURATION", defaultValue = "1s", converter = Durations.class,
        description = "send LNK_PING after this long without sending (default: ${DEFAULT-VALUE})")
    Duration pingInterval;

    @Option(names = "--dead-timeout", paramLabel = "DURATION", defaultValue = "10s", converter = Durations.class,
        description = "a link is dead after this long without receiving (default: ${DEFAULT-VALUE})")
    Duration deadTimeout;

    @Option(names = "--log-frames", description = "log every frame sent and received (DEBUG)")
    boolean logFrames;

    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean stopping;
    private ScheduledExecutorService reconnector;
    private LinkEndpoint endpoint;

    @Override
    public Integer call() throws Exception {
        String name = label != null ? label : listen.toString();
        if (logFrames) {
            Logging.setLevel("dev.dmsg.link", "DEBUG");
        }
        LinkConfig config = LinkConfig.builder().label(name).pingInterval(pingInterval)
            .deadTimeout(deadTimeout).logFrames(logFrames).build();
        Services services = EchoService.register(new Services());
        endpoint = new LinkEndpoint(config, services, new Narrator());
        InetSocketAddress bound;
        try {
            bound = endpoint.listen(listen.host(), listen.port());
        } catch (Exception e) {
            log.error("cannot listen on {}: {}", listen, e.getMessage());
            endpoint.close(Duration.ofSeconds(1));
            return 1;
        }
        log.info("node {} listening on {}:{} ({})", name, bound.getHostString(), bound.getPort(), endpoint.transportName());
        reconnector = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "reconnect");
            t.setDaemon(true);
            return t;
        });
        for (HostPort peer : connect) {
            reconnector.execute(() -> dial(peer, 0));
        }
        Runtime.getRuntime().addShutdownHook(new Thread(this::shutdown, "shutdown"));
        stopped.await();
        return 0;
    }

    /** Backoff: 1 s x 1.6 per failure up to 60 s, with +-20% jitter. */
    static long backoffMillis(int failures) {
        double base = Math.min(60_000, 1000 * Math.pow(1.6, failures));
        return (long) (base * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble()));
    }

    private void dial(HostPort peer, int failures) {
        if (stopping) {
            return;
        }
        endpoint.connect(peer.host(), peer.port()).whenComplete((link, err) -> {
            if (err != null) {
                long wait = backoffMillis(failures);
                log.warn("link to {}: {}; retrying in {} ms", peer, rootMessage(err), wait);
                schedule(() -> dial(peer, failures + 1), wait);
                return;
            }
            link.closeFuture().thenRun(() -> {
                long wait = backoffMillis(0);
                if (!stopping) {
                    log.info("link to {}: reconnecting in {} ms", peer, wait);
                    schedule(() -> dial(peer, 1), wait);
                }
            });
        });
    }

    private void schedule(Runnable r, long millis) {
        if (!stopping) {
            reconnector.schedule(r, millis, TimeUnit.MILLISECONDS);
        }
    }

    private void shutdown() {
        stopping = true;
        log.info("stopping: closing {} link(s)", endpoint.links().size());
        endpoint.close(Duration.ofSeconds(5));
        log.info("stopped");
        stopped.countDown();
    }

    static String rootMessage(Throwable t) {
        while (t.getCause() != null && t.getMessage() == null) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    /** Logs link changes, one line each, with the reason. */
    static final class Narrator implements LinkListener {
        @Override
        public void onUp(Link link) {
            log.info("link up: {} ({})", link.peerLabel(), link.remoteAddress());
        }

        @Override
        public void onConnResult(Link link, int error) {
            if (error == 0) {
                log.info("link {}: peer accepted our LNK_CONN", link.peerLabel());
            } else {
                log.warn("link {}: peer refused our LNK_CONN: {}", link.peerLabel(), ErrorCode.nameOf(error));
            }
        }

        @Override
        public void onDown(Link link, String reason, int aborted) {
            var s = link.stats();
            log.info("link down: {} ({}): {}; {} open transaction(s) aborted; {} msgs in, {} out, {} pings sent",
                link.peerLabel(), link.remoteAddress(), reason, aborted, s.msgsIn(), s.msgsOut(), s.pingsSent());
        }
    }
}
