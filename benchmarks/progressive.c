/* Lossless transcode of baseline JPEGs to progressive JPEGs whose first scans hold the lowest
 * frequencies, for benchmarks/read_floor.py (not part of pipecheck).
 *
 *     progressive K IN OUT [IN OUT ...]
 *
 * Scans: the DC coefficients of every component; then, per component, AC 1..K (zigzag order; none
 * when K is 0); then, per component, AC K+1..63. No successive approximation, so a file cut after
 * the first 1 (K = 0) or 1 + components (K > 0) scans holds those coefficients exactly. The
 * coefficients are copied, not re-quantized (jpeg_read_coefficients / jpeg_write_coefficients, as
 * jpegtran does); Huffman tables are optimized per scan.
 *
 * Build: cc -O2 progressive.c -o progressive -ljpeg  (libjpeg or libjpeg-turbo headers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

static int transcode(int k, const char *in_path, const char *out_path) {
  FILE *in = fopen(in_path, "rb");
  if (!in) return 1;
  FILE *out = fopen(out_path, "wb");
  if (!out) { fclose(in); return 1; }
  struct jpeg_decompress_struct d;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr derr, cerr;
  d.err = jpeg_std_error(&derr);  /* errors exit the process with libjpeg's message */
  jpeg_create_decompress(&d);
  jpeg_stdio_src(&d, in);
  jpeg_read_header(&d, TRUE);
  jvirt_barray_ptr *coefs = jpeg_read_coefficients(&d);
  c.err = jpeg_std_error(&cerr);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, out);
  jpeg_copy_critical_parameters(&d, &c);
  c.optimize_coding = TRUE;
  int n = c.num_components;
  jpeg_scan_info scans[1 + 2 * MAX_COMPS_IN_SCAN];
  int s = 0;
  scans[s].comps_in_scan = n;
  for (int i = 0; i < n; i++) scans[s].component_index[i] = i;
  scans[s].Ss = 0; scans[s].Se = 0; scans[s].Ah = 0; scans[s].Al = 0; s++;
  for (int pass = (k > 0 ? 0 : 1); pass < 2; pass++) {
    for (int i = 0; i < n; i++) {
      scans[s].comps_in_scan = 1;
      scans[s].component_index[0] = i;
      scans[s].Ss = pass == 0 ? 1 : k + 1;
      scans[s].Se = pass == 0 ? k : 63;
      scans[s].Ah = 0; scans[s].Al = 0; s++;
    }
  }
  c.scan_info = scans;
  c.num_scans = s;
  jpeg_write_coefficients(&c, coefs);
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  fclose(in);
  return fclose(out) != 0;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc % 2) {
    fprintf(stderr, "usage: %s K IN OUT [IN OUT ...]\n", argv[0]);
    return 2;
  }
  int k = atoi(argv[1]);
  if (k < 0 || k > 62) { fprintf(stderr, "K must be 0..62\n"); return 2; }
  for (int i = 2; i + 1 < argc; i += 2)
    if (transcode(k, argv[i], argv[i + 1])) { fprintf(stderr, "cannot transcode %s\n", argv[i]); return 1; }
  return 0;
}
