package dev.dmsg.quorum.raft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.ObjectOutputStream;
import org.apache.ratis.proto.RaftProtos.AppendEntriesReplyProto;
import org.apache.ratis.proto.RaftProtos.RaftRpcReplyProto;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.RaftProtos.ReadIndexReplyProto;
import org.apache.ratis.proto.RaftProtos.ReadIndexRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.proto.RaftProtos.SetConfigurationRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyExceptionReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.exceptions.GroupMismatchException;
import org.apache.ratis.protocol.exceptions.ServerNotReadyException;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

/**
 * The bytes of docs/QUORUM.md §5: a tag byte and a Ratis protobuf. Golden first bytes, both
 * request kinds read back with their RPC header, errors rebuilt by class from text — and never
 * from a peer's Java serialisation — and every malformed input refused with what is wrong.
 */
class RaftEnvelopeTest {
    static final RaftRpcRequestProto RPC = RaftRpcRequestProto.newBuilder()
        .setRequestorId(ByteString.copyFromUtf8("alpha")).setReplyId(ByteString.copyFromUtf8("beta")).setCallId(42).build();

    @Test
    void theTagByteSaysWhichProtobufFollows() throws Exception {
        RaftNettyServerRequestProto vote = RaftNettyServerRequestProto.newBuilder()
            .setRequestVoteRequest(RequestVoteRequestProto.newBuilder().setServerRequest(RPC).setCandidateTerm(3)).build();
        byte[] b = RaftEnvelope.request(vote);
        assertThat(b[0]).as("tag 1: Ratis's Netty envelope").isEqualTo((byte) 1);
        assertThat(b).hasSize(1 + vote.getSerializedSize());
        RaftEnvelope.Request r = RaftEnvelope.parseRequest(b);
        assertThat(r.netty()).isEqualTo(vote);
        assertThat(r.rpc()).isEqualTo(RPC);
        assertThat(r.serverRpc()).isTrue();
        assertThat(r.kind()).isEqualTo("REQUESTVOTEREQUEST");

        ReadIndexRequestProto ri = ReadIndexRequestProto.newBuilder().setServerRequest(RPC).build();
        byte[] rb = RaftEnvelope.request(ri);
        assertThat(rb[0]).as("tag 2: read index").isEqualTo((byte) 2);
        RaftEnvelope.Request r2 = RaftEnvelope.parseRequest(rb);
        assertThat(r2.readIndex()).isEqualTo(ri);
        assertThat(r2.serverRpc()).isTrue();
        assertThat(r2.kind()).isEqualTo("READINDEX");

        RaftEnvelope.Request conf = RaftEnvelope.parseRequest(RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder()
            .setSetConfigurationRequest(SetConfigurationRequestProto.newBuilder().setRpcRequest(RPC)).build()));
        assertThat(conf.serverRpc()).as("a client request: its requestor is a client id").isFalse();

        ReadIndexReplyProto rir = ReadIndexReplyProto.newBuilder().setReadIndex(99)
            .setServerReply(RaftRpcReplyProto.newBuilder().setSuccess(true)).build();
        assertThat(RaftEnvelope.parseReadIndexReply(RaftEnvelope.reply(rir)).getReadIndex()).isEqualTo(99);
        RaftNettyServerReplyProto ae = RaftNettyServerReplyProto.newBuilder()
            .setAppendEntriesReply(AppendEntriesReplyProto.newBuilder().setNextIndex(7)).build();
        assertThat(RaftEnvelope.parseReply(RaftEnvelope.reply(ae))).isEqualTo(ae);
    }

    @Test
    void errorsComeBackAsTheRatisExceptionsRetriesLookAtOrAsPlainIoExceptions() {
        assertThatThrownBy(() -> RaftEnvelope.parseReply(RaftEnvelope.error(RPC, new ServerNotReadyException("starting"))))
            .isExactlyInstanceOf(ServerNotReadyException.class).hasMessage("starting");
        assertThatThrownBy(() -> RaftEnvelope.parseReadIndexReply(RaftEnvelope.error(RPC, new GroupMismatchException("g"))))
            .isExactlyInstanceOf(GroupMismatchException.class);
        assertThatThrownBy(() -> RaftEnvelope.parseReply(RaftEnvelope.error(null, new IOException("refused by beta: no"))))
            .isExactlyInstanceOf(IOException.class).hasMessage("refused by beta: no");
        assertThatThrownBy(() -> RaftEnvelope.parseReply(RaftEnvelope.error(RPC, new EOFException("short"))))
            .isExactlyInstanceOf(IOException.class).hasMessage("EOFException: short");
    }

    @Test
    void aPeersJavaSerialisationIsNeverDeserialised() throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(new ServerNotReadyException("serialised"));
        }
        byte[] reply = RaftEnvelope.reply(RaftNettyServerReplyProto.newBuilder().setExceptionReply(
            RaftNettyExceptionReplyProto.newBuilder().setException(ByteString.copyFrom(bos.toByteArray()))).build());
        assertThatThrownBy(() -> RaftEnvelope.parseReply(reply)).isExactlyInstanceOf(IOException.class)
            .isNotInstanceOf(ServerNotReadyException.class);
    }

    @Test
    void malformedInputIsRefusedWithWhatIsWrong() {
        assertThatThrownBy(() -> RaftEnvelope.parseRequest(new byte[0])).hasMessage("empty Raft request");
        assertThatThrownBy(() -> RaftEnvelope.parseRequest(new byte[] {7, 0}))
            .hasMessage("Raft request tag 7 (known: 1 envelope, 2 read index)");
        assertThatThrownBy(() -> RaftEnvelope.parseRequest(new byte[] {1}))
            .hasMessage("Raft request envelope with no request in it");
        assertThatThrownBy(() -> RaftEnvelope.parseRequest(new byte[] {1, (byte) 0x0a, (byte) 0xff, 1}))
            .hasMessageStartingWith("malformed Raft request (tag 1, 4 bytes)");
        assertThatThrownBy(() -> RaftEnvelope.parseReply(new byte[] {2, 0})).hasMessage("Raft reply tag 2 where 1 was expected");
        assertThatThrownBy(() -> RaftEnvelope.parseReadIndexReply(RaftEnvelope.reply(RaftNettyServerReplyProto
            .newBuilder().setAppendEntriesReply(AppendEntriesReplyProto.getDefaultInstance()).build())))
            .hasMessage("Raft reply to a read index is not a read-index reply");
    }
}
