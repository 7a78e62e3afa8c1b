# The TCP file-download client of ../shared/seeds/000 (文件下载器, TCP客户端), as the course
# prints it; only the markdown escapes before its comments ("\#") are undone. The test
# replaces the server IP and port, nothing else. Note its single recv(1024): it saves at
# most the first 1024 bytes of a file.
import socket

def main():

    # 创建tcp套接字对象

    tcp_client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    # 建立连接

    server_ip = '192.168.159.1'

    server_port = 8080

    tcp_client_socket.connect((server_ip, server_port))

    print(f'已连接服务器 {server_ip}:{server_port}')

    # 发送信息

    send_message = input('请输入文件名:')

    tcp_client_socket.send(send_message.encode('gbk'))

    # 接收信息

    recv_message = tcp_client_socket.recv(1024)

    if recv_message:

        with open('new_' + send_message, mode='wb') as file:

            file.write(recv_message)

        print('接收完毕！')

    else:

        print('文件已损坏！')

if __name__ == '__main__':

    main()
