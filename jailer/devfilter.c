/* cgroup v2 has no devices controller: device access is decided by a BPF_PROG_TYPE_CGROUP_DEVICE
 * program. This one, built from raw instructions at run time, allows the jail's device nodes
 * (jail_devices[]) and nothing else. */
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jailer.h"

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
/* rD = *(u32 *)(rS + off) */
#define LDX_W(d, s, off) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, off, 0)
/* wD &= imm */
#define AND32(d, imm) INSN(BPF_ALU | BPF_AND | BPF_K, d, 0, 0, imm)
/* if rD != imm goto +off */
#define JNE(d, imm, off) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, off, imm)
#define MOV64(d, imm) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, imm)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define MAX_INSNS 64

/* struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type, then major, minor. */
static int build(struct bpf_insn *p)
{
	int n = 0;

	p[n++] = LDX_W(2, 1, 0);
	p[n++] = AND32(2, 0xffff); /* BPF_DEVCG_DEV_BLOCK or _CHAR */
	p[n++] = LDX_W(3, 1, 4);
	p[n++] = LDX_W(4, 1, 8);
	for (int i = 0; i < jail_nr_devices; i++) {
		/* Each rule is 5 instructions; a mismatch jumps to the next rule. */
		p[n++] = JNE(2, BPF_DEVCG_DEV_CHAR, 4);
		p[n++] = JNE(3, (int)jail_devices[i].major, 3);
		p[n++] = JNE(4, (int)jail_devices[i].minor, 2);
		p[n++] = MOV64(0, 1);
		p[n++] = EXIT();
	}
	p[n++] = MOV64(0, 0); /* deny */
	p[n++] = EXIT();
	return n;
}

int devfilter_attach(int cgroup_fd)
{
	struct bpf_insn insns[MAX_INSNS];
	char log[16384] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	int n = build(insns), prog, r;

	prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, "kindling_dev", "GPL", insns, (size_t)n, NULL);
	if (prog < 0) {
		/* Again with the verifier's log, to say why. */
		opts.log_buf = log;
		opts.log_size = sizeof(log);
		opts.log_level = 1;
		r = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, "kindling_dev", "GPL", insns, (size_t)n, &opts);
		if (r >= 0)
			close(r);
		jail_error("cannot load the cgroup v2 device filter: %s%s%s", strerror(-prog), log[0] ? "; verifier: " : "",
			   log);
		return prog;
	}
	/* ALLOW_MULTI: the parent's device programs (systemd's, say) still apply as well. */
	r = bpf_prog_attach(prog, cgroup_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
	close(prog);
	if (r < 0) {
		jail_error("cannot attach the cgroup v2 device filter: %s", strerror(-r));
		return r;
	}
	return 0;
}
