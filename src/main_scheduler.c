/*
 * ledgerops-scheduler: runs due jobs against the database the responders
 * share.  Several may run on one database; each job is claimed by one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "sched.h"

static void
scheduler_usage(void)
{
	fprintf(stderr, "usage: ledgerops-scheduler [-d] [-c FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *conf_arg = NULL;
	char err[1024];
	struct conf conf;
	int ch;

	log_init("ledgerops-scheduler", 0);
	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		if (ch == 'c')
			conf_arg = optarg;
		else if (ch == 'd')
			log_set_debug(1);
		else
			scheduler_usage();
	}
	if (argc != optind)
		scheduler_usage();
	if (conf_load(&conf, conf_choose_path(conf_arg), err, sizeof err)) {
		log_warnx("event=config_error msg=\"%s\"", err);
		return 1;
	}
	return sched_main(&conf);
}
