/** EAPOL frame I/O on a live interface with libpcap (node `pcap`), for the runners in test code only. */
import pcap from 'pcap';

export interface EapolIo {
  send(frame: Uint8Array): void;
  close(): void;
}

export function openEapolIo(iface: string, onFrame: (frame: Uint8Array) => void): EapolIo {
  const session = pcap.createSession(iface, { filter: 'ether proto 0x888e', buffer_timeout: 0, promiscuous: true });
  session.on('packet', (raw: { buf: Buffer; header: Buffer }) => {
    const caplen = raw.header.readUInt32LE(8);
    onFrame(Uint8Array.from(raw.buf.subarray(0, caplen)));
  });
  return {
    send: (frame) => session.inject(Buffer.from(frame)),
    close: () => session.close(),
  };
}
