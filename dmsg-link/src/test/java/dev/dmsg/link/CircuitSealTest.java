package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A sealed circuit (docs/IDENTITY.md §4.2): what one end seals the other opens, through the wire
 * and a relay's rewrite; any change on the path — to the aux, the tag, the header fields, the
 * extended header, the order, a message dropped or injected — fails.
 */
@ExtendWith(LeakDetector.class)
class CircuitSealTest {
    static final byte[] K1 = new byte[16];
    static final byte[] K2 = new byte[16];

    static {
        Arrays.fill(K1, (byte) 1);
        Arrays.fill(K2, (byte) 2);
    }

    final CircuitSeal alice = new CircuitSeal(K1, K2);
    final CircuitSeal bob = new CircuitSeal(K2, K1);

    static Message write(long msgid, String text) {
        return Message.of(Dmsg.BLK_WRITE | Dmsg.CREATE | Dmsg.DELETE, msgid, 0x77, 0, new BlkIo(5, 4096, 3, 0),
            Unpooled.copiedBuffer(text + "\0", StandardCharsets.UTF_8));
    }

    /** Through the wire and a relay: encoded, decoded, rewritten to another circuit id, encoded, decoded. */
    static Message overTheWire(Message sealed) throws Exception {
        ByteBuf frame = Unpooled.buffer();
        new FrameEncoder().encode(sealed, 0, frame);
        sealed.release();
        Message atRelay = new FrameDecoder().decode(frame);
        Message forwarded = atRelay.rewrite(atRelay.cmd(), atRelay.msgid(), 0x99);
        atRelay.release();
        ByteBuf frame2 = Unpooled.buffer();
        new FrameEncoder().encode(forwarded, 0, frame2);
        forwarded.release();
        frame.release();
        Message out = new FrameDecoder().decode(frame2);
        frame2.release();
        return out;
    }

    @Test
    void whatOneEndSealsTheOtherOpensAndRelaysSeeOnlyCiphertext() throws Exception {
        Message sealed = alice.seal(write(3, "hello, bob"));
        assertThat(sealed.reserved18() | sealed.reserved38()).isNotZero();
        assertThat(sealed.auxString()).isNotEqualTo("hello, bob");
        Message received = overTheWire(sealed);
        Message opened = bob.open(received);
        assertThat(opened.auxString()).isEqualTo("hello, bob");
        assertThat(opened.ext(BlkIo.class).offset()).isEqualTo(4096);
        assertThat(opened.reserved18()).isZero();
        received.release();
        opened.release();
        Message empty = bob.seal(Message.of(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, 3, 0x77, 0));
        Message wired = overTheWire(empty);
        Message back = alice.open(wired);
        assertThat(back.auxBytes()).isZero();
        assertThat(back.cmd()).isEqualTo(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY);
        wired.release();
        back.release();
    }

    @Test
    void anyChangeOnThePathFails() throws Exception {
        Message sealed = alice.seal(write(3, "hello, bob"));
        Message r = overTheWire(sealed);
        byte[] aux = r.auxCopy();
        aux[0] ^= 1;
        Message flipped = r.withSeal(Unpooled.wrappedBuffer(aux), r.reserved18(), r.reserved38());
        assertThatThrownBy(() -> new CircuitSeal(K2, K1).open(flipped)).isInstanceOf(CircuitSeal.Broken.class)
            .hasMessageContaining("message 0 on the circuit (BLK_WRITE msgid 0000000000000003) failed authentication");
        Message tag = r.withSeal(r.retainedAux(), r.reserved18() ^ 1, r.reserved38());
        assertThatThrownBy(() -> new CircuitSeal(K2, K1).open(tag)).isInstanceOf(CircuitSeal.Broken.class);
        tag.release();
        Message otherMsgid = Message.of(r.cmd(), 4, 0x77, 0, r.ext(), r.retainedAux())
            .withSeal(null, r.reserved18(), r.reserved38());
        assertThatThrownBy(() -> new CircuitSeal(K2, K1).open(otherMsgid)).isInstanceOf(CircuitSeal.Broken.class);
        Message otherExt = Message.of(r.cmd(), 3, 0x77, 0, new BlkIo(5, 8192, 3, 0), r.retainedAux());
        Message otherExtSealed = otherExt.withSeal(otherExt.retainedAux(), r.reserved18(), r.reserved38());
        otherExt.release();
        assertThatThrownBy(() -> new CircuitSeal(K2, K1).open(otherExtSealed)).isInstanceOf(CircuitSeal.Broken.class);
        otherExtSealed.release();
        otherMsgid.release();
        r.release();
    }

    @Test
    void aDroppedReorderedOrInjectedMessageFails() throws Exception {
        Message first = overTheWire(alice.seal(write(1, "one")));
        Message second = overTheWire(alice.seal(write(2, "two")));
        assertThatThrownBy(() -> bob.open(second)).as("the first was dropped").isInstanceOf(CircuitSeal.Broken.class);
        CircuitSeal fresh = new CircuitSeal(K2, K1);
        Message one = fresh.open(first);
        assertThat(one.auxString()).isEqualTo("one");
        one.release();
        assertThatThrownBy(() -> fresh.open(first)).as("replayed").isInstanceOf(CircuitSeal.Broken.class);
        Message injected = write(3, "from a relay");
        assertThatThrownBy(() -> new CircuitSeal(K2, K1).open(injected)).isInstanceOf(CircuitSeal.Broken.class);
        injected.release();
        first.release();
        second.release();
    }
}
