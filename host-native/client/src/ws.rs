//! The client side of JSON-RPC over WebSocket: `miwa call --transport ws` (one request,
//! its reply) and `miwa events` (subscriptions on the connection itself, `ws:`, and each
//! notification printed as it arrives).

use crate::endpoint::{failure, refusal, Failure, HttpTarget};
use crate::tls::{self, Io};
use anyhow::{bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// A connected WebSocket, over plain TCP or TLS.
type Socket = WebSocketStream<Box<dyn Io>>;

/// Connects to `target`'s `ws://` or `wss://` URL with its credentials.
async fn connect(target: &HttpTarget) -> anyhow::Result<Socket> {
    let (uri, authorization) = target.resolve()?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => bail!("only ws:// and wss:// URLs are supported here: {uri}"),
    };
    let host = uri.host().context("URL without host")?;
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let authority = format!("{host}:{port}");
    let tls = secure
        .then(|| tls::connector(target.ca_file.as_deref()))
        .transpose()?;
    let stream = tls::open(&authority, tls.as_ref())
        .await
        .map_err(|error| failure(error, &authority))?;
    let mut request = uri.into_client_request()?;
    if let Some(authorization) = authorization {
        request
            .headers_mut()
            .insert(hyper::header::AUTHORIZATION, authorization);
    }
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => Err(Failure::Refused(refusal(response.status())).into()),
        Err(error) => Err(error).context("WebSocket handshake failed"),
    }
}

/// The next text frame: a reply or a notification. Pings are answered by the library.
async fn next_text(socket: &mut Socket) -> anyhow::Result<String> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_string()),
            Some(Ok(Message::Close(Some(frame)))) => bail!(
                "the daemon closed the WebSocket: {} {}",
                frame.code,
                frame.reason
            ),
            Some(Ok(Message::Close(None))) | None => bail!("the daemon closed the WebSocket"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error).context("the WebSocket failed"),
        }
    }
}

/// Sends one request and returns its reply.
pub(crate) async fn exchange(target: &HttpTarget, request: &str) -> anyhow::Result<String> {
    let mut socket = connect(target).await?;
    socket.send(Message::text(request)).await?;
    let reply = next_text(&mut socket).await?;
    let _ = socket.close(None).await;
    Ok(reply)
}

/// The JSON-RPC request subscribing the connection to `event` for `expire` seconds.
fn subscribe_request(event: &str, expire: u32, id: usize) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "method": "event_subscribe",
        "params": [event, "ws:", expire],
        "id": id
    })
    .to_string()
}

/// Sends a subscription of the connection to each of `events` (their replies come later).
async fn subscribe_all(socket: &mut Socket, events: &[String], expire: u32) -> anyhow::Result<()> {
    for (index, event) in events.iter().enumerate() {
        socket
            .send(Message::text(subscribe_request(event, expire, index + 1)))
            .await?;
    }
    Ok(())
}

/// Subscribes the connection to `events` and hands each notification to `print` until the
/// connection ends; the subscriptions are renewed at half their `expire`.
pub async fn events(
    target: &HttpTarget,
    events: &[String],
    expire: u32,
    mut print: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut socket = connect(target).await?;
    subscribe_all(&mut socket, events, expire).await?;
    let mut pending = events.len();
    while pending > 0 {
        let text = next_text(&mut socket).await?;
        let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if reply.get("id").is_none() {
            print(&text);
            continue;
        }
        let index = reply["id"].as_u64().unwrap_or(0) as usize;
        if let Some(error) = reply.get("error") {
            let event = events
                .get(index.wrapping_sub(1))
                .map_or("?", String::as_str);
            bail!(
                "{event}: {} {}",
                error["code"],
                error["message"].as_str().unwrap_or("")
            );
        }
        pending -= 1;
    }
    let period = Duration::from_secs(u64::from(expire.max(2) / 2));
    let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            text = next_text(&mut socket) => {
                let text = text?;
                let is_reply = serde_json::from_str::<serde_json::Value>(&text)
                    .is_ok_and(|v| v.get("id").is_some());
                if !is_reply {
                    print(&text);
                }
            }
            _ = renewals.tick() => subscribe_all(&mut socket, events, expire).await?,
        }
    }
}
