/*
 * The floor of the API benchmark: a libfcgi responder that answers every
 * request with a fixed small JSON body and does nothing else.
 */
#include <string.h>

#include <fcgiapp.h>

int
main(void)
{
	static const char reply[] =
	    "Status: 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 13\r\n\r\n{\"hello\":\"w\"}";
	FCGX_Request r;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(reply, (int)strlen(reply), r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}
