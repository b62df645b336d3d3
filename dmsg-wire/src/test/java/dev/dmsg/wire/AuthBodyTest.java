package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Our LNK_AUTH body (docs/SECURITY.md §4), golden bytes written field by field. */
class AuthBodyTest {
    static byte[] key() {
        byte[] k = new byte[32];
        for (int i = 0; i < 32; i++) {
            k[i] = (byte) (0xa0 + i);
        }
        return k;
    }

    @Test
    void encodesFieldByField() {
        AuthBody a = new AuthBody(1, 2, 0x05, AuthBody.CAP_PING | AuthBody.CAP_CIRCUITS, key(), "beta");
        String golden =
            "0100"          // 0x00 version 1, u16 LE
            + "02"          // 0x02 role: member
            + "05"          // 0x03 grants: shell-ro | blk-rw
            + "05000000"    // 0x04 caps: PING | CIRCUITS, u32 LE
            + "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" // 0x08 key_sha256
            + "6265746100000000000000000000000000000000" + "00000000"; // 0x28 label "beta", NUL, zero to 24
        assertThat(HexFormat.of().formatHex(a.toLnkAuth().body())).isEqualTo(golden);
        assertThat(AuthBody.parse(new LnkAuth(HexFormat.of().parseHex(golden)))).isEqualTo(a);
    }

    @Test
    void refusesAnotherVersionAndAnEmptyLabel() {
        byte[] body = new AuthBody(1, 3, 0, 0, key(), "x").toLnkAuth().body();
        body[0] = 2;
        assertThatThrownBy(() -> AuthBody.parse(new LnkAuth(body))).hasMessage("LNK_AUTH version 2; we speak 1");
        byte[] noLabel = new AuthBody(1, 3, 0, 0, key(), "x").toLnkAuth().body();
        noLabel[AuthBody.LABEL_OFFSET] = 0;
        assertThatThrownBy(() -> AuthBody.parse(new LnkAuth(noLabel))).hasMessage("LNK_AUTH without a label");
        assertThatThrownBy(() -> new AuthBody(1, 3, 0, 0, key(), "a-label-far-too-long-for-24"))
            .hasMessageContaining("label is 27 bytes in UTF-8; max 23");
    }
}
