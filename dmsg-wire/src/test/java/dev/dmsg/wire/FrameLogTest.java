package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Vectors;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The one-line frame log (docs/PROTOCOL.md, "Frame log format") on the real C frames: cmd,
 * msgid and salt as the capture's annotation (dmsg-testkit's vectors/libdmsg-run1-annotated.txt) lists
 * them, exact strings. A command the wire layer does not know (DBG_ECHO is project-private,
 * defined in dmsg-services) is named by protocol, command and size: {@code DBG_0FE/1}.
 */
@ExtendWith(LeakDetector.class)
class FrameLogTest {

    static List<String> lines(byte[] stream) throws DmsgProtocolException {
        ByteBuf in = Unpooled.wrappedBuffer(stream);
        FrameDecoder d = new FrameDecoder();
        List<String> out = new ArrayList<>();
        Message m;
        while ((m = d.decode(in)) != null) {
            out.add(FrameLog.line(FrameLog.RECEIVED, m));
            m.release();
        }
        in.release();
        return out;
    }

    @Test
    void clientToServerCapture() throws Exception {
        assertThat(lines(Vectors.c2s())).containsExactly(
            "<< LNK_CONN|CREATE cmd=80001108 msgid=00007fb2f0000e40 circ=0 salt=1bc46b00 aux=0",
            "<< LNK_ERROR|CREATE|REPLY cmd=a00fff01 msgid=00007f22f8000e40 circ=0 salt=38196301 aux=0",
            "<< LNK_SPAN|CREATE cmd=80001207 msgid=00007fb2f00024b0 circ=0 salt=8ff33f02 aux=0",
            "<< DBG_SHELL cmd=00100101 msgid=0000000000000000 circ=0 salt=ff61cb03 aux=7",
            "<< DBG_SHELL cmd=00100101 msgid=0000000000000000 circ=0 salt=6cb07104 aux=5",
            "<< DBG_0FE/1|CREATE cmd=8010fe01 msgid=00007fb2f0002900 circ=0 salt=b4103b05 aux=17",
            "<< LNK_ERROR|DELETE cmd=400fff01 msgid=00007fb2f0002900 circ=0 salt=3891ac06 aux=0");
    }

    @Test
    void sentFramesHaveNoSaltAndErrorsAreNamed() {
        Message m = Message.of(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, 0x00007fb2f00024b0L, 0,
            Dmsg.ERR_NOSUPP);
        assertThat(FrameLog.line(FrameLog.SENT, m)).isEqualTo(
            ">> LNK_ERROR|CREATE|DELETE|REPLY cmd=e00fff01 msgid=00007fb2f00024b0 circ=0 aux=0 error=NOSUPP(0x20)");
        m.release();
    }

    @Test
    void fieldsShowTheExtAndTextAux() throws Exception {
        ByteBuf in = Unpooled.wrappedBuffer(Vectors.c2s());
        FrameDecoder d = new FrameDecoder();
        List<String> fields = new ArrayList<>();
        Message m;
        while ((m = d.decode(in)) != null) {
            fields.add(FrameLog.fields(m));
            m.release();
        }
        in.release();
        assertThat(fields.get(3)).isEqualTo("aux: \"whoami\"");
        assertThat(fields.get(2)).startsWith("LNK_SPAN ").contains("interop").contains("nodeB");
        assertThat(fields.get(1)).isEmpty();
    }
}
