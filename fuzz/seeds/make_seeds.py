#!/usr/bin/env python3
"""Writes the hand-written seeds into fuzz/corpus/<target>/seed-*.

Each seed carries the structured prefix its target decodes (see src/*.rs).
Re-running it overwrites the same files; libFuzzer's finds are kept beside them.
"""
import os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")

def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

# ftp_control: [max selector][cut count][cuts u16...] wire
M520 = bytes([211])  # max_len = 80 + 11*40 = 520
for i, wire in enumerate([
    b"USER anonymous\r\nPASS x\r\nCWD /a/b\r\nRETR ../../etc/passwd\r\nQUIT\r\n",
    b"PORT 127,0,0,1,4,1\r\nEPRT |2|::1|5282|\r\nEPRT |1|10.0.0.1|21|\r\nEPSV ALL\r\nEPSV 2\r\nREST 100\r\nPASV\r\n",
    b"\xff\xf4\xff\xf2ABOR\r\n\xff\xfb\x01NO\xff\xfe\x03OP\r\nA\xff\xffB\r\n",
    b"MFMT 20200101120000 file\r\nMFF modify=20200101120000;UNIX.mode=644; f\r\nMDTM f\r\nSIZE f\r\n",
    b"SITE CHMOD 755 x\r\nOPTS UTF8 ON\r\nTYPE I\r\nTYPE A N\r\nPROT P\r\nPBSZ 0\r\nAUTH TLS\r\nCCC\r\nHOST ftp.example\r\n",
    b"RETR a\x00b\r\nFOO\x00\r\nUS\x00ER x\r\n\r\n \r\nVERYLONGVERB x\r\n",
    b"XCWD x\r\nXPWD\r\nxmkd d\r\nXRMD d\r\nXCUP\r\nLIST -la\r\nNLST\r\nMLSD /\r\nMLST f\r\nSTAT\r\nHELP SITE\r\nFEAT\r\n",
    b"STOR a b  c\r\nAPPE x\rY\r\nSTOU\r\nDELE f\r\nRNFR a\r\nRNTO b\r\nMKD \"q\"\r\nRMD d\r\nALLO 10\r\nMODE S\r\nSTRU F\r\nREIN\r\nSYST\r\nACCT a\r\n",
]):
    put("ftp_control", f"{i}", M520 + b"\x00" + wire)
put("ftp_control", "overlong", bytes([10, 2, 0, 5, 0, 17]) + b"A" * 30 + b"\r\nNOOP\r\n" + b"B" * 12 + b"\r")

# ftp_reply: [max_line selector][max_lines selector] wire
R = bytes([128, 31])
for i, wire in enumerate([
    b"220 Welcome\r\n211-Features:\r\n EPSV\r\n MLST type*;size*;modify*;\r\n UTF8\r\n211 End\r\n",
    b"227 Entering Passive Mode (127,0,0,1,4,1)\r\n229 Entering Extended Passive Mode (|||6446|)\r\n",
    b"150-a\r\n226 not mine\r\n150-b\r\n150 done\r\n230\r\n",
    b"550-x\r\n550-y\r\n550 z\r\n331 Password required\r\n530 Login incorrect.\n",
    b"257 \"/a \"\"quoted\"\" dir\" created\r\n213 20200101120000\r\n213 1234\r\n",
]):
    put("ftp_reply", f"{i}", R + wire)
put("ftp_reply", "limits", bytes([2, 1]) + b"200 123456789\r\n200-a\r\n b\r\n200 d\r\n600 x\r\n20\r\n")

# http_path: [max u16][host len][host] raw
def hp(raw, host=b"localhost", mx=4096):
    return struct.pack(">H", mx) + bytes([len(host)]) + host + raw
for i, raw in enumerate([
    b"/a/b%20c/../%2e%2e/%2F?x", b"http://localhost/dav/x%20y", b"https://user@localhost/x",
    b"HTTP://LOCALHOST:80/a?b#c", b"/%ZZ", b"/caf%C3%A9/", b"/%00", b"*", b"/%C3%28", b"/a\\..\\b",
    b"http://other/x", b"  /spaced  ",
]):
    put("http_path", f"{i}", hp(raw))
put("http_path", "toolong", hp(b"/" + b"a" * 40, mx=16))

# http_range: [selector][size][max_ranges] header
def rng(header, size=10000, mx=8):
    return bytes([1]) + struct.pack(">H", size) + bytes([mx]) + header
for i, h in enumerate([
    b"bytes=0-99,200-,-500", b"bytes=0-0,-1", b"bytes=18446744073709551615-", b"BYTES = 1-2",
    b"bytes=5-1", b"bytes=,,0-1,, 2-3\t,4-5", b"items=0-1", b"bytes=-0", b"bytes=99999-", b"bytes=0-99999999999999999999999",
]):
    put("http_range", f"{i}", rng(h))
put("http_range", "empty", bytes([0, 0, 3]) + b"bytes=0-")
put("http_range", "max", bytes([2, 0, 4]) + b"bytes=-1,0-")

# http_conditional: [method][exists][size u16][secs u64][nanos u16][count] headers
def cond(method, exists, headers, secs=784111777):
    return bytes([method, exists]) + struct.pack(">HQH", 1000, secs, 7) + bytes([len(headers)]) + b"".join(headers)
put("http_conditional", "inm-ours", cond(0, 1, [bytes([1, 0, 0, 0])]))
put("http_conditional", "if-match-star-ius", cond(2, 1, [bytes([0, 1]), bytes([3, 2, 0])]))
put("http_conditional", "if-range-date", cond(0, 1, [bytes([4, 2, 1])]))
put("http_conditional", "ims", cond(1, 1, [bytes([2, 2, 2])]))
put("http_conditional", "weak-list", cond(3, 1, [bytes([0, 0x80, 2, 1, 3, 0]), bytes([4, 0, 0, 1])]))
put("http_conditional", "garbage", cond(0, 1, [bytes([4, 3, 12]) + b"W/\"x\" , \"y\"", bytes([1, 4, 3]) + b"*, "]))
put("http_conditional", "missing", cond(2, 0, [bytes([0, 0, 0, 0])]))

# webdav_xml: [flags][size u64] body
def dav(body, flags=15):
    return bytes([flags]) + struct.pack(">Q", 1234) + body
bodies = [
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
    b'<propfind xmlns="DAV:"><propname/></propfind>',
    b'<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z&amp;&quot;"><D:prop><D:getetag/><D:getcontentlength/><Z:author/><x xmlns=""/></D:prop></D:propfind>',
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:author>Ann &amp; <Z:b>Bob</Z:b></Z:author><Z:e/></D:prop></D:set><D:remove><D:prop><Z:old/></D:prop></D:remove></D:propertyupdate>',
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Wed, 01 Jan 2020 00:00:00 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>',
    b'[{"name":{"ns":"urn:z","local":"a"},"xml":"<Z:a xmlns:Z=\\"urn:z\\">v &lt; w</Z:a>"},{"name":{"ns":"","local":"b"},"xml":"<b/>"}]',
    b'<!DOCTYPE x [<!ENTITY e "boom">]><D:propfind xmlns:D="DAV:"><D:prop><D:x>&e;</D:x></D:prop></D:propfind>',
    b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><q:x xmlns:q=\'u"v\'>1</q:x></D:prop></D:set></D:propertyupdate>',
    b"<a>" * 40 + b"</a>" * 40,
]
for i, b in enumerate(bodies):
    put("webdav_xml", f"{i}", dav(b, flags=i))

# http_basic: [mode] value-or-user\npassword
for i, v in enumerate([
    b"\x00Basic dXNlcjpwYXNz", b"\x00basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ==", b"\x00Basic QQ", b"\x00Basic QR==",
    b"\x00Bearer abc", b"\x00 Basic\tdTpw ", b"\x01user\npa:ss", b"\x03\xc3\xa9\n", b"\x05a:b\nc", b"\x07\x01\n",
]):
    put("http_basic", f"{i}", v)

# vpath: [cwd len / 2][cwd] path
for i, (cwd, p) in enumerate([
    (b"/a/b", b"../../../etc/passwd"), (b"", b"/%2e%2e/x%2F..%2fy"), (b"/home", b"a/./b//c/.."),
    (b"", b"a\rb"), (b"", b"..\\..\\x"), (b"/x", b"/" + b"n" * 256), (b"/d", b"./" * 10 + b"."),
]):
    c = cwd + (b"/" if len(cwd) % 2 else b"")
    put("vpath", f"{i}", bytes([len(c) // 2]) + c + p)

# proxy_header: raw bytes
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
for i, v in enumerate([
    b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",
    b"PROXY TCP6 ::1 ::2 1 2\r\n", b"PROXY UNKNOWN\r\n", b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n", b"PROXY ",
    SIG + b"\x21\x11\x00\x0c" + bytes([10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0, 80]) + b"USER x\r\n",
    SIG + b"\x21\x21\x00\x24" + bytes(range(16)) + bytes(range(16)) + b"\x01\xbb\x00\x50",
    SIG + b"\x20\x00\x00\x00", SIG + b"\x21\x31\x00\x00", SIG + b"\x11\x11\x00\x00",
]):
    put("proxy_header", f"{i}", v)
