//! What the hostile-input campaign found, one test each, so that it stays fixed.

use crate::support::{Gateway, GatewayOptions, put_stalling_file};

/// Found by the campaign: a line over `limits.max_command_line` sent while a
/// transfer ran was dropped without a reply (outside a transfer it gets `500`), so
/// a client that counts its replies waited forever. Now it is answered `500` in
/// its turn, after the transfer's reply, like any line sent ahead.
#[tokio::test]
async fn an_over_long_line_sent_during_a_transfer_is_answered_in_its_turn() {
    let gw = Gateway::start(GatewayOptions::with_config("limits: { max_command_line: 512 }\n")).await;
    put_stalling_file(gw.store(), "big.bin");
    let mut c = gw.raw_login().await;
    let _data = c.start_transfer("RETR big.bin").await;
    // The client reads nothing, so the transfer stalls; then a line too long, then ABOR.
    c.send(&format!("SIZE {}", "x".repeat(2000))).await;
    c.send("ABOR").await;
    let codes = [c.reply().await.0, c.reply().await.0, c.reply().await.0];
    assert_eq!(codes, [426, 500, 226], "the transfer's end, the long line, ABOR");
    c.expect("NOOP", 200).await;
}
