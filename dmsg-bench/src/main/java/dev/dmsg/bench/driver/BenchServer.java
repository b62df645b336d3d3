package dev.dmsg.bench.driver;

import static dev.dmsg.bench.driver.BenchProtocol.BENCH_CTRL;
import static dev.dmsg.bench.driver.BenchProtocol.BENCH_SINK;

import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.EchoService;
import dev.dmsg.wire.Dmsg;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The far end of every scenario, in its own JVM: a DMSG node serving DBG_ECHO, the bench sink and
 * control transactions, and the raw-Netty baseline server. Each has exactly one I/O thread, so a
 * transport's sink counters and its control commands are touched by that one thread only.
 */
final class BenchServer implements AutoCloseable {
    /**
     * Counts what one transport received, and optionally makes each message cost a busy-wait (the
     * slow consumer). Touched only on that transport's single I/O thread.
     */
    static final class Sink {
        long msgs;
        long bytes;
        long spinNanos;

        void take(int auxBytes) {
            msgs++;
            bytes += auxBytes;
            if (spinNanos > 0) {
                long end = System.nanoTime() + spinNanos;
                while (System.nanoTime() < end) {
                    Thread.onSpinWait();
                }
            }
        }
    }

    private final MemorySampler memory = new MemorySampler();
    private final Sink dmsgSink = new Sink();
    private final Sink rawSink = new Sink();
    private LinkEndpoint dmsg;
    private EventLoopGroup rawGroup;
    private Channel rawServer;
    int dmsgPort;
    int rawPort;

    void start(String host, int wantDmsgPort, int wantRawPort) throws InterruptedException {
        start(host, wantDmsgPort, wantRawPort, null);
    }

    /** @param tls the DMSG listener's TLS, or {@code null} for plaintext */
    void start(String host, int wantDmsgPort, int wantRawPort, TlsConfig tls) throws InterruptedException {
        Services services = register(EchoService.register(new Services()));
        LinkConfig config = LinkConfig.builder().label(BenchTls.SERVER).tls(tls).build();
        dmsg = new LinkEndpoint(config, services, LinkListener.NONE, 1);
        dmsgPort = dmsg.listen(host, wantDmsgPort).getPort();
        rawGroup = RawNetty.group(1);
        rawServer = RawNetty.listen(rawGroup, host, wantRawPort, rawSink, text -> control(rawSink, text));
        rawPort = ((InetSocketAddress) rawServer.localAddress()).getPort();
    }

    /**
     * Adds the bench sink and control to {@code services} (a circuit bench's far node uses them
     * too). Their counters assume one I/O thread delivers every counted message: one link, or one
     * circuit's last hop.
     */
    Services register(Services services) {
        services.oneWay(BENCH_SINK, (link, m) -> dmsgSink.take(m.auxBytes()));
        services.accept(BENCH_CTRL, (txn, create) -> control(dmsgSink));
        return services;
    }

    String transportName() {
        return dmsg.transportName();
    }

    /** A control transaction: its CREATE|DELETE carries the command, our DELETE the answer. */
    private TransactionHandler control(Sink sink) {
        return (t, m) -> {
            if (m.isAbort()) {
                t.reply(m.error());
            } else if (m.isDelete()) {
                t.send(BENCH_CTRL | Dmsg.DELETE, null, BenchProtocol.text(control(sink, m.auxString())));
            }
        };
    }

    String control(Sink sink, String command) {
        Map<String, String> a = BenchProtocol.parse(command);
        if (a.containsKey("reset")) {
            sink.msgs = 0;
            sink.bytes = 0;
            sink.spinNanos = Long.parseLong(a.getOrDefault("spin", "0"));
            memory.reset();
            return "ok";
        }
        if (a.containsKey("stats")) {
            return "msgs=" + sink.msgs + " bytes=" + sink.bytes + " spin=" + sink.spinNanos
                + " memory=" + MemorySampler.encode(memory.perSecond());
        }
        return "error=unknown-command";
    }

    @Override
    public void close() {
        if (rawServer != null) {
            rawServer.close();
            rawGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        if (dmsg != null) {
            dmsg.close(Duration.ofSeconds(2));
        }
    }

    /**
     * Runs until stdin ends (when {@code watchStdin}: the parent JVM of {@code bench all} closed
     * it or died) or the JVM is stopped. Prints one line {@code READY dmsg=PORT raw=PORT pid=PID}
     * on {@code out} once both listen.
     */
    static int run(String host, int dmsgPort, int rawPort, boolean watchStdin, PrintStream out) throws Exception {
        return run(host, dmsgPort, rawPort, watchStdin, out, null);
    }

    static int run(String host, int dmsgPort, int rawPort, boolean watchStdin, PrintStream out,
                   TlsConfig tls) throws Exception {
        BenchCommand.quietLogs();
        try (BenchServer s = new BenchServer()) {
            s.start(host, dmsgPort, rawPort, tls);
            out.printf("READY dmsg=%d raw=%d pid=%d transport=%s%n", s.dmsgPort, s.rawPort,
                ProcessHandle.current().pid(), s.transportName());
            out.flush();
            if (watchStdin) {
                while (System.in.read() >= 0) {
                    // nothing is sent on stdin; EOF is the signal to stop
                }
            } else {
                Thread.currentThread().join();
            }
        }
        return 0;
    }
}
