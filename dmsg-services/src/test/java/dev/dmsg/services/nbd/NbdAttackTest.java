package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.TempFiles;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

/**
 * The attacks of issue 13 item 5 on the NBD server, each beside an honest client that must keep
 * working while it runs (docs/BLK.md "Hardening"): idle connections from one address, unread
 * 32 MiB reads on 64 connections, clients that stop reading their replies, a flood of refusals in
 * the log. Attackers come from 127.0.0.1 (or 127.0.0.3..), the honest client from 127.0.0.2:
 * Linux loopback answers all of 127/8, so each is a separate client to the server's caps.
 */
@ExtendWith(LeakDetector.class)
@Timeout(120)
class NbdAttackTest {
    static final Await WAIT = Await.atMost(Duration.ofSeconds(30));
    static final int DISK_BYTES = 64 << 20;
    static final int BIG = 32 << 20;
    static final String HONEST = "127.0.0.2";

    Path dir;
    ExecutorService io;
    FileBlockDevice disk0;
    NbdServer server;
    final List<AutoCloseable> attackers = new ArrayList<>();
    ListAppender<ILoggingEvent> logged;

    @BeforeEach
    void start() throws Exception {
        dir = TempFiles.tmpfsDir("nbd-attack");
        io = Executors.newFixedThreadPool(4);
        Path d0 = dir.resolve("disk0.img");
        TempFiles.sized(d0, DISK_BYTES);
        disk0 = FileBlockDevice.open("disk0", d0, false, 4096, io);
        logged = new ListAppender<>();
        logged.start();
        ((Logger) LoggerFactory.getLogger(NbdServer.class)).addAppender(logged);
        ((Logger) LoggerFactory.getLogger(NbdConnection.class)).addAppender(logged);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable a : attackers) {
            a.close();
        }
        if (server != null) {
            server.close();
        }
        ((Logger) LoggerFactory.getLogger(NbdServer.class)).detachAppender(logged);
        ((Logger) LoggerFactory.getLogger(NbdConnection.class)).detachAppender(logged);
        disk0.close();
        io.shutdownNow();
        TempFiles.deleteTree(dir);
    }

    // ------------------------------------------------------------------ connection caps

    /**
     * 128 connections from 127.0.0.1 that never send a byte used to take every slot for 30 s:
     * now 16 are held (the cap per client), the other 112 are closed at once, and a client on
     * 127.0.0.2 reads and writes as if nothing happened. The refusals are counted, and logged
     * at most 10 times a minute with how many there were.
     */
    @Test
    void idleConnectionsFromOneAddressDoNotLockAnotherClientOut() throws Exception {
        server = NbdServer.builder().export("disk0", disk0).bind("127.0.0.1", 0);
        int held = 0;
        int refused = 0;
        for (int i = 0; i < 128; i++) {
            Socket s = new Socket();
            attackers.add(s);
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            // an admitted connection gets the 18-byte greeting, a refused one EOF or a reset, at once
            if (connectAndReadGreeting(s, server.localAddress())) {
                held++;
            } else {
                refused++;
            }
        }
        assertThat(held).as("connections held from 127.0.0.1").isEqualTo(16);
        assertThat(refused).isEqualTo(112);

        try (RawNbdClient honest = new RawNbdClient(server.localAddress(), HONEST)) {
            honest.handshake();
            honest.go("disk0");
            writeAndReadBack(honest, 20, 7);
        }
        NbdServer.Stats stats = server.stats();
        assertThat(stats.refusedPerClientCap()).isEqualTo(112);
        assertThat(stats.refusedTotalCap()).isZero();
        List<String> refusals = lines("refused (");
        assertThat(refusals).as("rate-limited: 10 a minute").hasSize(10);
        assertThat(refusals.get(0)).startsWith("nbd: refused (1 so far): connection from 127.0.0.1:")
            .endsWith(": 16 connections from 127.0.0.1 open (limit 16 per client)");
    }

    /** The total cap holds across clients too: the 129th connection is refused whoever sends it. */
    @Test
    void theTotalCapHoldsAcrossAddresses() throws Exception {
        server = NbdServer.builder().export("disk0", disk0).maxConnections(8).maxConnectionsPerClient(4)
            .bind("127.0.0.1", 0);
        int held = 0;
        for (int a = 10; a < 14; a++) {
            for (int i = 0; i < 3; i++) {
                Socket s = new Socket();
                attackers.add(s);
                s.bind(new InetSocketAddress("127.0.0." + a, 0));
                held += connectAndReadGreeting(s, server.localAddress()) ? 1 : 0;
            }
        }
        assertThat(held).isEqualTo(8);
        assertThat(server.stats().refusedTotalCap()).isEqualTo(4);
        assertThat(lines("refused (").get(0)).endsWith(": 8 connections open (limit 8)");
    }

    // ------------------------------------------------------------------ memory budget

    /**
     * 64 connections each send four 32 MiB reads and never read a byte of the replies (the
     * attack that grew the process to 770 MB). Now one client (127.0.0.1) holds at most its
     * 64 MiB share of the budget: two reads run, every other waits unallocated with its
     * connection unread. An honest client on 127.0.0.2 reads and writes meanwhile; the process's
     * direct memory stays under the budget, and once the attackers go it is given back.
     */
    @Test
    void unreadLargeReadsWaitInsideTheBudgetWhileAnHonestClientWorks() throws Exception {
        long budget = NbdServer.Builder.DEFAULT_BUDGET_BYTES;
        long share = NbdServer.Builder.DEFAULT_BUDGET_PER_CLIENT_BYTES;
        server = NbdServer.builder().export("disk0", disk0).maxConnectionsPerClient(64).bind("127.0.0.1", 0);
        Memory before = Memory.now();
        for (int i = 0; i < 64; i++) {
            attackers.add(bigReader(server.localAddress(), "127.0.0.1", 4));
        }
        WAIT.until(() -> server.stats().budgetWaiting() == 62, "62 connections wait for budget, 2 hold it");
        NbdServer.Stats s = server.stats();
        assertThat(s.budgetUsedBytes()).isEqualTo(share);

        long t0 = System.nanoTime();
        try (RawNbdClient honest = new RawNbdClient(server.localAddress(), HONEST)) {
            honest.handshake();
            honest.go("disk0");
            writeAndReadBack(honest, 50, 11);
        }
        long honestMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        Memory during = Memory.now();
        s = server.stats();
        assertThat(s.budgetPeakBytes()).isLessThanOrEqualTo(share + (1 << 20) * 2L); // + the honest client's
        assertThat(during.direct - before.direct).as("direct memory held during the attack")
            .isLessThan(budget);

        for (AutoCloseable a : attackers) {
            a.close();
        }
        attackers.clear();
        WAIT.until(() -> server.connections() == 0 && server.stats().budgetUsedBytes() == 0, "the attackers are gone");
        WAIT.until(() -> Memory.now().direct - before.direct < (8 << 20), "direct memory given back");
        Memory after = Memory.now();
        System.out.printf("[NbdAttackTest] 64 x 4 unread 32 MiB reads: budget peak %d MiB, %d waits; direct memory "
                + "%d -> %d -> %d MiB, pooled allocator %d -> %d -> %d MiB, RSS %d -> %d -> %d MiB; honest client "
                + "50 x 64 KiB write+read in %d ms%n", s.budgetPeakBytes() >> 20, s.budgetWaits(), before.direct >> 20,
            during.direct >> 20, after.direct >> 20, before.pooled >> 20, during.pooled >> 20, after.pooled >> 20,
            before.rss >> 20, during.rss >> 20, after.rss >> 20, honestMs);
    }

    /**
     * The same from four addresses: two of them take the whole budget (2 x 64 MiB), the honest
     * client's read waits behind them, the other two queue after it. Clients that took no reply
     * for the stall timeout (30 s) are closed and their memory freed; the budget goes first come,
     * first served, so the honest read runs before the later attackers'. Time is a fake clock:
     * the check is run by hand after moving it.
     */
    @Test
    void clientsThatStopReadingAreClosedAfterTheStallTimeoutAndTheirMemoryFreed() throws Exception {
        FakeClock clock = new FakeClock();
        server = NbdServer.builder().export("disk0", disk0).nanoClock(clock).stallTimeout(Duration.ofSeconds(30))
            .bind("127.0.0.1", 0);
        for (int a = 3; a < 5; a++) {
            for (int i = 0; i < 2; i++) {
                attackers.add(bigReader(server.localAddress(), "127.0.0." + a, 2));
            }
        }
        WAIT.until(() -> server.stats().budgetUsedBytes() == NbdServer.Builder.DEFAULT_BUDGET_BYTES, "the budget is taken");
        try (RawNbdClient honest = new RawNbdClient(server.localAddress(), HONEST)) {
            honest.handshake();
            honest.go("disk0");
            honest.request(Nbd.CMD_READ, 0, 99, 0, 65536, null);
            honest.flush();
            WAIT.until(() -> server.stats().budgetWaiting() == 1, "the honest read waits for budget");
            for (int a = 5; a < 7; a++) {
                for (int i = 0; i < 2; i++) {
                    attackers.add(bigReader(server.localAddress(), "127.0.0." + a, 2));
                }
            }
            WAIT.until(() -> server.stats().budgetWaiting() == 5, "four more attackers wait behind it");

            clock.advance(29, TimeUnit.SECONDS);
            server.checkStalls();
            assertThat(server.stats().stalled()).as("29 s: not yet").isZero();
            clock.advance(2, TimeUnit.SECONDS);
            server.checkStalls();
            RawNbdClient.Reply r = honest.readReply(c -> 65536);
            assertThat(r.cookie()).isEqualTo(99);
            assertThat(r.error()).isZero();
            assertThat(server.stats().stalled()).isEqualTo(4);
        }
        assertThat(lines("took no reply for").get(0)).contains("took no reply for 31000 ms (stall timeout 30000 ms)");
        for (AutoCloseable a : attackers) {
            a.close();
        }
        attackers.clear();
        WAIT.until(() -> server.stats().budgetUsedBytes() == 0, "all budget given back");
    }

    /** A flood of malformed connections: each is counted, the log holds at most 20 lines a minute. */
    @Test
    void malformedConnectionsAreCountedAndTheirLogIsRateLimited() throws Exception {
        server = NbdServer.builder().export("disk0", disk0).maxConnectionsPerClient(128).bind("127.0.0.1", 0);
        for (int i = 0; i < 100; i++) {
            try (RawNbdClient bad = new RawNbdClient(server.localAddress())) {
                bad.handshake(0x80); // an unknown client flag: the spec's MUST disconnect
                assertThat(bad.closedByServer()).isTrue();
            }
        }
        WAIT.until(() -> server.stats().malformed() == 100, "100 counted");
        assertThat(lines("unknown bits")).hasSize(20);
        try (RawNbdClient honest = new RawNbdClient(server.localAddress(), HONEST)) {
            honest.handshake();
            honest.go("disk0");
            writeAndReadBack(honest, 5, 17);
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Connects from {@code local}, chooses disk0 and sends {@code reads} 32 MiB reads, reading nothing back. */
    static AutoCloseable bigReader(InetSocketAddress server, String local, int reads) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(16 << 10); // keep the kernel's share small: the replies stay in the server
        s.bind(new InetSocketAddress(local, 0));
        s.connect(server, 5000);
        s.setSoTimeout(10_000);
        RawNbdClient c = new RawNbdClient(s);
        c.handshake();
        c.go("disk0");
        for (int i = 0; i < reads; i++) {
            c.request(Nbd.CMD_READ, 0, i, (long) (i % 2) * BIG, BIG, null);
        }
        c.flush();
        return c;
    }

    /** Whether the server greets the connection (admitted) rather than closing or resetting it (refused). */
    static boolean connectAndReadGreeting(Socket s, InetSocketAddress server) throws IOException {
        byte[] b = new byte[18];
        int n = 0;
        try {
            s.connect(server, 5000); // the reset of a refusal can arrive before connect() returns
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            while (n < b.length) {
                int r = in.read(b, n, b.length - n);
                if (r < 0) {
                    return false;
                }
                n += r;
            }
        } catch (SocketException e) {
            return false; // reset: refused
        }
        return true;
    }

    /** {@code rounds} 64 KiB writes at random offsets, each read back and compared. */
    static void writeAndReadBack(RawNbdClient c, int rounds, long seed) throws IOException {
        writeAndReadBack(c, rounds, seed, DISK_BYTES);
    }

    static void writeAndReadBack(RawNbdClient c, int rounds, long seed, int diskBytes) throws IOException {
        Random random = new Random(seed);
        for (int i = 0; i < rounds; i++) {
            byte[] data = new byte[65536];
            random.nextBytes(data);
            long offset = (long) random.nextInt(diskBytes / 65536) * 65536;
            assertThat(c.call(Nbd.CMD_WRITE, 0, offset, data.length, data).error()).isZero();
            RawNbdClient.Reply r = c.call(Nbd.CMD_READ, 0, offset, data.length, null);
            assertThat(r.error()).isZero();
            assertThat(Arrays.equals(r.data(), data)).as("round %d reads back what it wrote", i).isTrue();
        }
    }

    List<String> lines(String containing) {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains(containing)).toList();
    }

    /** Direct memory (the JDK's count, which Netty's buffers go through here), the pooled allocator's, RSS. */
    record Memory(long direct, long pooled, long rss) {
        static Memory now() {
            long direct = 0;
            for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
                if (b.getName().equals("direct")) {
                    direct = b.getMemoryUsed();
                }
            }
            long rss = 0;
            try {
                for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                    if (l.startsWith("VmRSS:")) {
                        rss = Long.parseLong(l.replaceAll("[^0-9]", "")) << 10;
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new Memory(direct, PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory(), rss);
        }
    }
}
