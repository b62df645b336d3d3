package dev.dmsg.link.netty;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * docs/SECURITY.md §7, the rule alone (no sockets): who gives way when a cap on unfinished
 * handshakes is full, and what an attacker must do to push out an honest handshake.
 */
class HandshakeSlotsTest {
    /** Every slot told to give way, with its reason. */
    final List<String> evicted = new ArrayList<>();

    static InetAddress addr(int n) {
        try {
            return InetAddress.getByAddress(new byte[] {10, 0, (byte) (n >> 8), (byte) n});
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    HandshakeSlots.Admission admit(HandshakeSlots slots, int address, int port) {
        String remote = addr(address).getHostAddress() + ":" + port;
        HandshakeSlots.Admission a = slots.admit(addr(address), remote, why -> evicted.add(remote + " " + why));
        if (a.victim() != null) {
            a.victim().evict(a.why());
        }
        return a;
    }

    @Test
    void anAddressAtItsCapGivesWayItselfAndOthersAreUntouched() {
        HandshakeSlots s = new HandshakeSlots(64, 3);
        admit(s, 9, 1);
        for (int port = 1; port <= 5; port++) {
            assertThat(admit(s, 1, port).slot()).isNotNull();
        }
        // the 4th and 5th from 10.0.0.1 pushed out its own 1st and 2nd, not 10.0.0.9's
        assertThat(evicted).containsExactly(
            "10.0.0.1:1 closed unfinished to make room for 10.0.0.1:4: 3 connections from 10.0.0.1 have not finished"
                + " the handshake (limit 3 per address); it was the oldest of the 3 from 10.0.0.1",
            "10.0.0.1:2 closed unfinished to make room for 10.0.0.1:5: 3 connections from 10.0.0.1 have not finished"
                + " the handshake (limit 3 per address); it was the oldest of the 3 from 10.0.0.1");
        assertThat(s.held()).isEqualTo(4);
    }

    @Test
    void aFullEndpointTakesFromTheAddressHoldingTheMost() {
        HandshakeSlots s = new HandshakeSlots(6, 16);
        admit(s, 1, 1); // the oldest of all, but its address holds one
        admit(s, 2, 1);
        admit(s, 2, 2);
        admit(s, 2, 3);
        admit(s, 3, 1);
        admit(s, 3, 2);
        admit(s, 4, 1); // a new address: 10.0.0.2, holding 3, gives its oldest
        assertThat(evicted).singleElement().asString().startsWith("10.0.0.2:1 closed unfinished to make room for"
            + " 10.0.0.4:1: 6 connections have not finished the handshake (limit 6); it was the oldest of the 3 from 10.0.0.2");
        evicted.clear();
        admit(s, 3, 3); // 10.0.0.3 would hold 3 with it, 10.0.0.2 holds 2: 10.0.0.3 gives its own oldest
        assertThat(evicted).singleElement().asString().startsWith("10.0.0.3:1 ");
        evicted.clear();
        admit(s, 5, 1); // all hold 2 or fewer: the oldest among those holding 2 (10.0.0.2:2, then 10.0.0.3:2)
        assertThat(evicted).singleElement().asString().startsWith("10.0.0.2:2 ");
        assertThat(s.held()).isEqualTo(6);
    }

    @Test
    void aConnectionPastTlsNeverGivesWayAndWhenNoneCanTheNewcomerIsRefused() {
        HandshakeSlots s = new HandshakeSlots(2, 16);
        HandshakeSlots.Slot trusted = admit(s, 1, 1).slot();
        s.pastTls(trusted);
        admit(s, 2, 1);
        admit(s, 1, 2); // 10.0.0.1 would hold the most, but its one slot presented a trusted key: 10.0.0.2 gives way
        assertThat(evicted).singleElement().asString().startsWith("10.0.0.2:1 ");
        s.pastTls(admit(s, 3, 1).slot()); // pushes out 10.0.0.1:2, then is trusted too
        HandshakeSlots.Admission refused = admit(s, 4, 1);
        assertThat(refused.slot()).isNull();
        assertThat(refused.why()).isEqualTo("2 connections have not finished the handshake (limit 2); none of them can"
            + " give way (each has presented a trusted key)");
        s.release(trusted);
        s.release(trusted); // idempotent
        assertThat(s.held()).isEqualTo(1);
        assertThat(admit(s, 4, 2).slot()).isNotNull();
    }

    @Test
    void aSlotThatGaveWayIsReleasedOnlyOnce() {
        HandshakeSlots s = new HandshakeSlots(1, 16);
        HandshakeSlots.Slot first = admit(s, 1, 1).slot();
        admit(s, 2, 1);
        s.release(first); // the connection closes after giving way: its slot was already handed on
        assertThat(s.held()).isEqualTo(1);
    }

    /**
     * The attacker's arithmetic: from fewer addresses than the cap, no number of idle
     * connections pushes out an honest handshake; from fresh addresses, it takes {@code max}
     * newer connections while that one handshake runs.
     */
    @Test
    void pushingOutAnHonestHandshakeTakesTheCapInNewerConnectionsFromAsManyAddresses() {
        long seed = new Random().nextLong();
        Random r = new Random(seed);
        HandshakeSlots s = new HandshakeSlots(64, 16);
        for (int i = 0; i < 64; i++) {
            admit(s, 1 + r.nextInt(60), i);
        }
        HandshakeSlots.Slot honest = admit(s, 1000, 1).slot();
        for (int i = 0; i < 100_000; i++) { // 60 attacker addresses, any order
            admit(s, 1 + r.nextInt(60), 100 + i);
        }
        assertThat(evicted).as("seed %d", seed).noneMatch(l -> l.startsWith("10.0.3.232:1 "));
        s.release(honest);

        evicted.clear();
        HandshakeSlots.Slot again = admit(s, 1000, 2).slot();
        for (int i = 0; i < 63; i++) {
            admit(s, 2000 + i, 1); // a fresh address each, one connection each
        }
        assertThat(evicted).noneMatch(l -> l.startsWith("10.0.3.232:2 "));
        admit(s, 3000, 1);
        assertThat(evicted).last().asString().startsWith("10.0.3.232:2 closed unfinished");
        s.release(again);
        assertThat(s.held()).isEqualTo(64);
    }
}
